/**
 * `host:port` both ways, with brackets around an IPv6 host (`[::1]:6379`), as
 * Ray's build_address writes it. One shape everywhere: a GCS address in the
 * configuration, one read back from Redis, and the HTTP address. The acquire
 * script checks the same shape in Lua (hostPortOf in redis/lua-checks.ts),
 * so a value a candidate may publish is exactly a value the next one accepts.
 * Callers say what the address was for.
 */

/** A `host:port` longer than this is refused, in config and when read from Redis (Lua too). */
export const MAX_HOST_PORT_BYTES = 300;

/**
 * A hostname or IPv4 address (letters, digits, `.`, `_`, `-`), or an IPv6
 * address in brackets (hex digits, `.`, at least one `:`, an optional `%zone`),
 * then `:` and a port of 1 to 5 digits. ASCII only, so characters are bytes.
 */
const HOST_PORT = /^(?:([A-Za-z0-9._-]+)|\[([0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9._-]+)?)\]):(\d{1,5})$/;

/** `host:port` or `[v6]:port` → its parts, or null when it is not that shape (or the port is not 1-65535). */
export function splitHostPort(value: string): { host: string; port: number } | null {
  const text = value.trim();
  if (text.length > MAX_HOST_PORT_BYTES) return null;
  const m = HOST_PORT.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  return port >= 1 && port <= 65535 ? { host: (m[1] ?? m[2])!, port } : null;
}

/** True for a string that is exactly a `host:port` of the shape above (no surrounding space): what may be read from Redis. */
export function isHostPort(value: unknown): value is string {
  return typeof value === 'string' && value === value.trim() && splitHostPort(value) !== null;
}

/** Ray's build_address: brackets around an IPv6 host. */
export function buildAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
