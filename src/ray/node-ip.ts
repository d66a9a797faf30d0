/**
 * The IP address Ray itself would give this node, computed synchronously.
 *
 * Ray (src/ray/util/network_util.cc, GetNodeIpAddressFromPerspective) connects
 * a UDP socket to 8.8.8.8:53 (then [2001:4860:4860::8888]:53) and takes the
 * socket's local address: the source address the kernel would route from. It
 * falls back to resolving the hostname, and last to 127.0.0.1. A UDP connect
 * has no synchronous form in Node, so this asks the kernel's routing table
 * (/proc/net/route, /proc/net/ipv6_route) which interface that route leaves
 * by and takes that interface's address, then /etc/hosts for the hostname.
 * Not guaranteed identical to Ray on hosts with several addresses on the
 * egress interface or a `src` hint on the route: pass --node-ip-address (or
 * RAY_HA_GCS_ADDRESS) there, as Ray's own docs advise for such hosts.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Ray's IsLocalhost: exactly these three spellings (not 127.0.0.2, not LOCALHOST). */
export function isLocalhost(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '::1';
}


export interface NodeIpSources {
  routes?: string; // contents of /proc/net/route
  routes6?: string; // contents of /proc/net/ipv6_route
  hosts?: string; // contents of /etc/hosts
  hostname?: string;
  interfaces?: NodeJS.Dict<os.NetworkInterfaceInfo[]>;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The interface the kernel would use to reach 8.8.8.8: longest prefix, then lowest metric. */
export function egressInterfaceV4(routes: string): string | null {
  const target = 0x08080808;
  let best: { iface: string; bits: number; metric: number } | null = null;
  for (const line of routes.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, destHex, , flagsHex, , , metricStr, maskHex] = f as [string, string, string, string, string, string, string, string];
    if ((parseInt(flagsHex, 16) & 0x1) === 0) continue; // RTF_UP
    // The file holds addresses in host (little-endian) byte order.
    const dest = swap32(parseInt(destHex, 16));
    const mask = swap32(parseInt(maskHex, 16));
    if (((target & mask) >>> 0) !== ((dest & mask) >>> 0)) continue;
    const bits = popcount(mask);
    const metric = Number(metricStr);
    if (!best || bits > best.bits || (bits === best.bits && metric < best.metric)) best = { iface, bits, metric };
  }
  return best?.iface ?? null;
}

/** The interface of the IPv6 default route (::/0), lowest metric. */
export function egressInterfaceV6(routes6: string): string | null {
  let best: { iface: string; metric: number } | null = null;
  for (const line of routes6.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, destLen, , , , metricHex, , , flagsHex, iface] = f as string[];
    if (dest !== '0'.repeat(32) || destLen !== '00' || !iface || iface === 'lo') continue;
    if ((parseInt(flagsHex ?? '0', 16) & 0x1) === 0) continue;
    const metric = parseInt(metricHex ?? '0', 16);
    if (!best || metric < best.metric) best = { iface, metric };
  }
  return best?.iface ?? null;
}

/** The first address of `hostname` in an /etc/hosts text, IPv4 preferred (as Ray's fallback). */
export function hostnameFromHosts(hosts: string, hostname: string): string | null {
  let v6: string | null = null;
  for (const raw of hosts.split('\n')) {
    const [addr, ...names] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (!addr || !names.includes(hostname)) continue;
    if (!addr.includes(':')) return addr;
    v6 ??= addr;
  }
  return v6;
}

/** The address Ray would pick for this node when --node-ip-address is not given. */
export function nodeIpRayWouldPick(src: NodeIpSources = {}): string {
  const interfaces = src.interfaces ?? os.networkInterfaces();
  const v4If = egressInterfaceV4(src.routes ?? readOr('/proc/net/route'));
  const v4 = v4If ? interfaces[v4If]?.find((a) => a.family === 'IPv4') : undefined;
  if (v4) return v4.address;
  const v6If = egressInterfaceV6(src.routes6 ?? readOr('/proc/net/ipv6_route'));
  const v6 = v6If ? interfaces[v6If]?.find((a) => a.family === 'IPv6' && !a.address.startsWith('fe80')) : undefined;
  if (v6) return v6.address;
  const fromHosts = hostnameFromHosts(src.hosts ?? readOr('/etc/hosts'), src.hostname ?? os.hostname());
  return fromHosts ?? '127.0.0.1';
}

function swap32(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | ((n >>> 24) & 0xff)) >>> 0;
}

function popcount(n: number): number {
  let c = 0;
  for (let x = n >>> 0; x; x >>>= 1) c += x & 1;
  return c;
}
