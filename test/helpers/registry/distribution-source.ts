/**
 * An export that read its layers from a registry writes `containerd.io/distribution.source.<host>`
 * onto them (as BuildKit's GetRemote does), so its manifest differs from a local export's in those
 * annotations only. These helpers compare manifests without them and read them back.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'containerd.io/distribution.source.';

interface Desc {
  mediaType: string;
  digest: string;
  annotations?: Record<string, string>;
}

async function readManifest(layoutDir: string, digest: string): Promise<{ layers?: Desc[]; manifests?: Desc[] }> {
  return JSON.parse(await readFile(join(layoutDir, 'blobs', 'sha256', digest.replace(/^sha256:/, '')), 'utf8')) as { layers?: Desc[]; manifests?: Desc[] };
}

function strip(d: Desc): Desc {
  if (!d.annotations) return d;
  const annotations = Object.fromEntries(Object.entries(d.annotations).filter(([k]) => !k.startsWith(PREFIX)));
  const { annotations: _dropped, ...rest } = d;
  return Object.keys(annotations).length > 0 ? { ...rest, annotations } : rest;
}

/** The manifest blob `digest` of a layout, parsed, with every distribution-source annotation removed. */
export async function manifestWithoutSources(layoutDir: string, digest: string): Promise<unknown> {
  const m = await readManifest(layoutDir, digest);
  return { ...m, ...(m.layers ? { layers: m.layers.map(strip) } : {}), ...(m.manifests ? { manifests: m.manifests.map(strip) } : {}) };
}

/** Per layer descriptor (the config left out): its distribution-source annotations. */
export async function distributionSources(layoutDir: string, digest: string): Promise<Record<string, string>[]> {
  const m = await readManifest(layoutDir, digest);
  const layers = m.layers ?? (m.manifests ?? []).filter((d) => !d.mediaType.includes('buildkit'));
  return layers.map((d) => Object.fromEntries(Object.entries(d.annotations ?? {}).filter(([k]) => k.startsWith(PREFIX))));
}
