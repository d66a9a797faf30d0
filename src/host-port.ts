/**
 * `host:port` both ways, with brackets around an IPv6 host (`[::1]:6379`), as
 * Ray's build_address writes it. Callers check the port range and say what
 * the address was for.
 */

/** `host:port` or `[v6]:port` → its parts, or null when it is not that shape. */
export function splitHostPort(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(value.trim());
  return m ? { host: (m[1] ?? m[2])!, port: Number(m[3]) } : null;
}

/** Ray's build_address: brackets around an IPv6 host. */
export function buildAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
