/**
 * `host[:port]` as operators write it (DNS_RESOLVERS, RFC2136_NAMESERVER,
 * DBHOST): the one parser behind the configuration and the DNS plugin.
 */
import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

const HOST_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/i;

/** A DNS name (trailing dot allowed) or an IPv4/IPv6 address. */
export function isHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => HOST_LABEL.test(label));
}

/** `host:port` with IPv6 in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Why a `host[:port]` did not parse: the host part, or the port. */
export type HostPortProblem = 'host' | 'port';

/**
 * `host`, `host:port`, `[v6]:port` or a bare IPv6 address (surrounding spaces
 * ignored); `defaultPort` applies when the port is omitted.
 */
export function splitHostPort(raw: string, defaultPort: number): HostPort | { problem: HostPortProblem } {
  const text = raw.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
    if (isIP(host) !== 6) return { problem: 'host' };
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (!isHost(host)) return { problem: 'host' };
  if (portText === undefined) return { host, port: defaultPort };
  if (!/^\d+$/.test(portText)) return { problem: 'port' };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { problem: 'port' };
  return { host, port };
}
