/**
 * Image names parsed as docker's reference.ParseNormalizedNamed does (distribution/reference), with its
 * error texts, then given the default tag as reference.TagNameOnly does: `alpine` → `docker.io/library/alpine:latest`.
 */
import { CacheError } from '../contract/errors';

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6address})(?::[0-9]+)?`;
const tag = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const namePat = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;
const referenceRegexp = new RegExp(`^(${namePat})(?::(${tag}))?(?:@(${digestPat}))?$`);
const anchoredIdentifier = /^[a-f0-9]{64}$/;

const NAME_TOTAL_LENGTH_MAX = 255;
const DIGEST_HEX: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export interface ImageName {
  /** Registry host, `docker.io` for Docker Hub. */
  domain: string;
  /** Repository path, `library/…` for official Docker Hub images. */
  path: string;
  tag: string | null;
  digest: string | null;
  /** The full normalised string: `docker.io/library/alpine:latest`. */
  full: string;
}

function invalid(message: string, name: string): never {
  throw new CacheError('bad-request', message, { field: 'name', value: name });
}

function splitDockerDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  if (i === -1 || (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && name.slice(0, i).toLowerCase() === name.slice(0, i))) {
    domain = 'docker.io';
    remainder = name;
  } else {
    domain = name.slice(0, i);
    remainder = name.slice(i + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !remainder.includes('/')) remainder = `library/${remainder}`;
  return [domain, remainder];
}

function checkDigest(d: string, name: string): void {
  const colon = d.indexOf(':');
  const alg = d.slice(0, colon);
  const hex = d.slice(colon + 1);
  const want = DIGEST_HEX[alg];
  if (want === undefined) invalid('unsupported digest algorithm', name);
  // go-digest's Algorithm.Validate: the length is checked before the characters.
  if (hex.length !== want) invalid('invalid checksum digest length', name);
  if (!/^[a-f0-9]+$/.test(hex)) invalid('invalid checksum digest format', name);
}

/** ParseNormalizedNamed + TagNameOnly; throws docker's error text for a bad name. */
export function parseImageName(s: string): ImageName {
  if (anchoredIdentifier.test(s)) invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`, s);
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remoteName = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remoteName.toLowerCase() !== remoteName) invalid(`invalid reference format: repository name (${remoteName}) must be lowercase`, s);
  const full = `${domain}/${remainder}`;
  const m = referenceRegexp.exec(full);
  if (!m) {
    if (full === '') invalid('repository name must have at least one component', s);
    if (referenceRegexp.test(full.toLowerCase())) invalid('repository name must be lowercase', s);
    invalid('invalid reference format', s);
  }
  if (m[1].length > NAME_TOTAL_LENGTH_MAX) invalid(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`, s);
  const digest = m[3] ?? null;
  if (digest) checkDigest(digest, s);
  const path = m[1].slice(domain.length + 1);
  // TagNameOnly: a name with neither tag nor digest gets `latest`.
  const t = m[2] ?? (digest ? null : 'latest');
  return { domain, path, tag: t, digest, full: `${m[1]}${t ? `:${t}` : ''}${digest ? `@${digest}` : ''}` };
}

/** `name=a,b`: each comma-separated name parsed; a bad one fails the list, its error naming it and keeping docker's text. */
export function parseImageNames(value: string): ImageName[] {
  return value.split(',').map((n, i, all) => {
    try {
      return parseImageName(n);
    } catch (err) {
      if (!(err instanceof CacheError)) throw err;
      // Docker's text alone ("invalid reference format") does not say which of the names is wrong.
      const which = all.length > 1 ? `name ${i + 1} of ${all.length} (${JSON.stringify(n)})` : `name ${JSON.stringify(n)}`;
      throw new CacheError('bad-request', `${which}: ${err.message}`, { ...err.details, field: 'name', value: n });
    }
  });
}
