/**
 * containerd's distribution-source annotations (`containerd.io/distribution.source.<host>` = a
 * comma-separated list of repositories that hold the blob), as BuildKit's GetRemote writes them onto
 * descriptors of blobs that came from a registry and containerd's pusher reads them to pick a
 * cross-repository mount. The key holds the host name without its port (Go's `url.Hostname()`).
 */

export const DISTRIBUTION_SOURCE_PREFIX = 'containerd.io/distribution.source.';

/** A repository on one registry (`host[:port]`, as a reference names it). */
export interface DistributionSource {
  registry: string;
  repository: string;
}

/** `host[:port]` or `[v6]:port` → the host name alone, as Go's url.Hostname() gives it. */
export function registryHostname(registry: string): string {
  if (registry.startsWith('[')) {
    const close = registry.indexOf(']');
    return registry.slice(1, close < 0 ? undefined : close);
  }
  const colon = registry.lastIndexOf(':');
  // More than one colon without brackets: a bare IPv6 address, no port.
  return colon < 0 || registry.indexOf(':') !== colon ? registry : registry.slice(0, colon);
}

/** The annotation key for a registry. */
export function distributionSourceKey(registry: string): string {
  return `${DISTRIBUTION_SOURCE_PREFIX}${registryHostname(registry)}`;
}

/** GetRemote's merge: the existing list with `repository` appended unless it is there already (order kept). */
export function appendDistributionSource(existing: string | undefined, repository: string): string {
  const repos = existing ? existing.split(',') : [];
  if (!repos.includes(repository)) repos.push(repository);
  return repos.join(',');
}

/** The descriptor annotations with `source` added (a new object; the input is not changed). */
export function withDistributionSource(annotations: Readonly<Record<string, string>> | undefined, source: DistributionSource): Record<string, string> {
  const key = distributionSourceKey(source.registry);
  return { ...annotations, [key]: appendDistributionSource(annotations?.[key], source.repository) };
}

/** The repositories the annotations name for this registry's host (empty entries dropped). */
export function distributionSourceRepos(annotations: Readonly<Record<string, string>> | undefined, registry: string): string[] {
  const value = annotations?.[distributionSourceKey(registry)];
  return value ? value.split(',').filter((r) => r !== '') : [];
}

function commonPrefixComponents(a: string[], b: string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Mount candidates for `target`, best first: containerd picks the repository sharing the most
 * leading path components with the target; ties keep their order. The target itself is never one.
 */
export function rankMountCandidates(target: string, repos: readonly string[]): string[] {
  const parts = target.split('/');
  const unique = [...new Set(repos)].filter((r) => r !== '' && r !== target);
  return unique
    .map((repo, i) => ({ repo, i, n: commonPrefixComponents(parts, repo.split('/')) }))
    .sort((x, y) => y.n - x.n || x.i - y.i)
    .map((x) => x.repo);
}
