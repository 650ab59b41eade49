/**
 * Which proxy a request goes through, with Go's `net/http/httpproxy` rules (what docker, containerd
 * and BuildKit use): HTTPS_PROXY for https URLs, HTTP_PROXY for http, upper case before lower case;
 * NO_PROXY entries are `*`, IPs, CIDRs, or domains (`foo.com` covers its subdomains, `.foo.com` only
 * them), each with an optional port; `localhost` and loopback IPs are never proxied.
 */
import { BlockList, isIP } from 'node:net';
import { CacheError } from '../../../shared/contract/errors';
import { isLoopbackHost, splitHostPort } from './reference';

export interface ProxyEnv {
  [name: string]: string | undefined;
}

interface DomainMatcher {
  suffix: string;
  matchHost: boolean;
  port: string;
}

interface IpMatcher {
  ip: string;
  port: string;
}

/** The parsed proxy settings of one environment. */
export interface ProxyConfig {
  httpProxy: URL | null;
  httpsProxy: URL | null;
  noProxyAll: boolean;
  domains: DomainMatcher[];
  ips: IpMatcher[];
  cidrs: BlockList;
}

function firstEnv(env: ProxyEnv, ...names: string[]): string {
  for (const name of names) {
    const v = env[name];
    if (v) return v;
  }
  return '';
}

/** A proxy URL as Go reads it: a bare `host:port` means http://host:port. */
function parseProxyUrl(value: string, variable: string): URL | null {
  if (!value) return null;
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (!url || !/^(https?|socks5h?):$/.test(url.protocol) || !url.hostname) {
    try {
      url = new URL(`http://${value}`);
    } catch {
      throw new CacheError('invalid-options', `${variable}: ${JSON.stringify(value.replace(/\/\/[^@/]*@/, '//***@'))} is not a proxy URL`, { field: variable });
    }
  }
  if (url.protocol.startsWith('socks')) {
    throw new CacheError('invalid-options', `${variable}: SOCKS proxies are not supported; use an HTTP(S) proxy`, { field: variable });
  }
  return url;
}

function normaliseIp(ip: string): string {
  return ip.replace(/^\[|\]$/g, '').toLowerCase();
}

/** Reads HTTP(S)_PROXY and NO_PROXY from `env` (process.env by default). */
export function proxyConfigFromEnv(env: ProxyEnv = process.env): ProxyConfig {
  const config: ProxyConfig = {
    httpProxy: parseProxyUrl(firstEnv(env, 'HTTP_PROXY', 'http_proxy'), 'HTTP_PROXY'),
    httpsProxy: parseProxyUrl(firstEnv(env, 'HTTPS_PROXY', 'https_proxy'), 'HTTPS_PROXY'),
    noProxyAll: false,
    domains: [],
    ips: [],
    cidrs: new BlockList(),
  };
  for (const raw of firstEnv(env, 'NO_PROXY', 'no_proxy').split(',')) {
    let p = raw.trim().toLowerCase();
    if (!p) continue;
    if (p === '*') {
      config.noProxyAll = true;
      continue;
    }
    const slash = p.indexOf('/');
    if (slash > 0) {
      const net = normaliseIp(p.slice(0, slash));
      const bits = Number(p.slice(slash + 1));
      const kind = isIP(net);
      if (kind && Number.isInteger(bits)) {
        config.cidrs.addSubnet(net, bits, kind === 6 ? 'ipv6' : 'ipv4');
        continue;
      }
    }
    let port = '';
    const hp = splitHostPort(p);
    if (hp.port !== undefined && (p.startsWith('[') || isIP(p) === 0)) {
      if (!hp.host) continue;
      p = hp.host;
      port = hp.port;
    }
    p = normaliseIp(p);
    if (isIP(p)) {
      config.ips.push({ ip: p, port });
      continue;
    }
    if (p.startsWith('*.')) p = p.slice(1);
    const matchHost = !p.startsWith('.');
    config.domains.push({ suffix: matchHost ? `.${p}` : p, matchHost, port });
  }
  return config;
}

/** Whether `url` should go through a proxy at all, per NO_PROXY and the loopback rule. */
export function useProxy(config: ProxyConfig, url: URL): boolean {
  const host = normaliseIp(url.hostname);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (isLoopbackHost(host)) return false;
  if (config.noProxyAll) return false;
  const kind = isIP(host);
  if (kind) {
    if (config.cidrs.check(host, kind === 6 ? 'ipv6' : 'ipv4')) return false;
    if (config.ips.some((m) => m.ip === host && (m.port === '' || m.port === port))) return false;
  }
  for (const m of config.domains) {
    if ((host.endsWith(m.suffix) || (m.matchHost && host === m.suffix.slice(1))) && (m.port === '' || m.port === port)) return false;
  }
  return true;
}

/** The proxy for `url`, or null for a direct connection. */
export function proxyFor(config: ProxyConfig, url: URL): URL | null {
  const proxy = url.protocol === 'https:' ? config.httpsProxy : url.protocol === 'http:' ? config.httpProxy : null;
  if (!proxy) return null;
  return useProxy(config, url) ? proxy : null;
}

/** `Proxy-Authorization` for a proxy URL with user-info, else undefined. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}
