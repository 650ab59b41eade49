/**
 * Image references as the docker CLI reads them: `host[:port]/repo[:tag][@digest]`, with docker's
 * normalisation (no host → docker.io, one-component Hub names get `library/`), plus BuildKit's
 * `type=registry,ref=…` cache option form. Pure string work: nothing here touches a network.
 */
import { isIP } from 'node:net';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem } from '../../../shared/oci/digest';

/** A repository on one registry: what a scope, a credential and a URL are built from. */
export interface RepositoryRef {
  /** The registry as the user named it, normalised: `docker.io` for Docker Hub, else `host[:port]` lowercased. */
  registry: string;
  /** The repository path, e.g. `library/alpine` or `team/cache`. */
  repository: string;
}

export interface Reference extends RepositoryRef {
  /** Present unless the reference is by digest only; defaults to `latest` when neither is given. */
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's API actually answers. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
/** The key docker stores Hub credentials under, for every Hub alias. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

// The distribution reference grammar (reference/regexp.go), anchored.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const MAX_NAME = 255;

function invalid(input: string, field: string, problem: string): CacheError {
  return new CacheError('invalid-source', `registry reference ${JSON.stringify(input)}: ${field}: ${problem}`, { field, reference: input });
}

/** True when `registry` is Docker Hub under any of its names. */
export function isDockerHub(registry: string): boolean {
  return HUB_ALIASES.has(registry.toLowerCase());
}

/** Splits `host[:port]`, accepting bracketed IPv6 (`[::1]:5000`). */
export function splitHostPort(hostPort: string): { host: string; port?: string } {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    const host = hostPort.slice(1, close < 0 ? undefined : close);
    const rest = close < 0 ? '' : hostPort.slice(close + 1);
    return rest.startsWith(':') ? { host, port: rest.slice(1) } : { host };
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0 || hostPort.indexOf(':') !== colon) return { host: hostPort };
  return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

/** Loopback as Go's httpproxy sees it: the name `localhost` and any loopback IP (127/8, ::1). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  const kind = isIP(h);
  if (kind === 4) return h.startsWith('127.');
  if (kind === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/** The host whose `/v2/` API serves `registry`: Hub answers on registry-1.docker.io. */
export function apiHost(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_API_HOST : registry;
}

/** The key docker uses for this registry in config.json and credential helpers. */
export function authKey(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_AUTH_KEY : registry;
}

function checkDomain(input: string, domain: string): string {
  const { host, port } = splitHostPort(domain);
  if (port !== undefined && !/^\d{1,5}$/.test(port)) throw invalid(input, 'registry', `port ${JSON.stringify(port)} is not a number`);
  if (port !== undefined && Number(port) > 65535) throw invalid(input, 'registry', `port ${port} is out of range`);
  const ipv6 = domain.startsWith('[');
  if (ipv6 ? isIP(host) !== 6 : !host.split('.').every((part) => HOST_COMPONENT.test(part))) {
    throw invalid(input, 'registry', `${JSON.stringify(host)} is not a host name or IP address`);
  }
  const lower = domain.toLowerCase();
  return lower === 'index.docker.io' ? DOCKER_HUB : lower;
}

/**
 * Parses a reference with docker's rules. The first `/`-component is a registry only when it has a
 * `.` or `:`, is `localhost`, or has an upper-case letter; otherwise the name lives on Docker Hub.
 */
export function parseReference(input: string): Reference {
  const text = input.trim();
  if (text === '') throw invalid(input, 'reference', 'is empty');
  if (/\s/.test(text)) throw invalid(input, 'reference', 'contains white space');
  if (text.includes('://')) throw invalid(input, 'reference', 'a reference has no scheme (write host/repo:tag, not https://host/repo:tag)');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem) throw invalid(input, 'digest', problem);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(input, 'tag', `${JSON.stringify(tag)} is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)`);
  }

  let registry: string;
  let path: string;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first && !first.startsWith('['))) {
    registry = DOCKER_HUB;
    path = rest;
  } else {
    registry = checkDomain(input, first);
    path = rest.slice(slash + 1);
  }
  if (path === '') throw invalid(input, 'repository', 'is empty');
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(input, 'repository', `component ${JSON.stringify(component)} must be lowercase letters and digits, separated by . _ __ or -`);
    }
  }
  if (registry.length + 1 + path.length > MAX_NAME) throw invalid(input, 'repository', `name is longer than ${MAX_NAME} characters`);

  const ref: Reference = { registry, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/** `host/repo:tag@digest` in docker's familiar-less canonical form (always with the registry). */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** What BuildKit's `type=registry,ref=…[,registry.insecure=true]` option says. */
export interface RegistryCacheOption {
  reference: Reference;
  /** `registry.insecure=true`: plain HTTP (or unverified TLS) allowed for this registry. */
  insecure: boolean;
  /** Every other attribute, verbatim (mode, image-manifest, oci-mediatypes, …) for the caller to judge. */
  attributes: Record<string, string>;
}

/** Splits one CSV field list the way BuildKit's option parser does (double quotes group commas). */
function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) throw new CacheError('invalid-source', `cache option ${JSON.stringify(text)}: unbalanced double quote`, { field: 'option' });
  fields.push(current);
  return fields;
}

/** Parses `type=registry,ref=host/repo:tag,…`; errors name the attribute at fault. */
export function parseRegistryCacheOption(text: string): RegistryCacheOption {
  const attributes: Record<string, string> = {};
  for (const field of splitCsv(text)) {
    if (field.trim() === '') continue;
    const eq = field.indexOf('=');
    if (eq <= 0) throw new CacheError('invalid-source', `cache option ${JSON.stringify(text)}: ${JSON.stringify(field)} is not key=value`, { field });
    const key = field.slice(0, eq).trim().toLowerCase();
    if (key in attributes) throw new CacheError('invalid-source', `cache option ${JSON.stringify(text)}: ${key} is given twice`, { field: key });
    attributes[key] = field.slice(eq + 1).trim();
  }
  if (attributes.type !== 'registry') {
    throw new CacheError('invalid-source', `cache option ${JSON.stringify(text)}: type: expected "registry", got ${JSON.stringify(attributes.type ?? '')}`, { field: 'type' });
  }
  if (!attributes.ref) throw new CacheError('invalid-source', `cache option ${JSON.stringify(text)}: ref: is missing`, { field: 'ref' });
  const reference = parseReference(attributes.ref);
  const insecureText = attributes['registry.insecure'];
  if (insecureText !== undefined && !/^(true|false)$/i.test(insecureText)) {
    throw new CacheError('invalid-source', `cache option ${JSON.stringify(text)}: registry.insecure: expected true or false, got ${JSON.stringify(insecureText)}`, { field: 'registry.insecure' });
  }
  const rest = { ...attributes };
  delete rest.type;
  delete rest.ref;
  delete rest['registry.insecure'];
  return { reference, insecure: insecureText?.toLowerCase() === 'true', attributes: rest };
}
