/** Shared pieces of the pull tests: a progress clock that drops no state, and checks that every stored blob is its digest. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../../electron/engine/export/export-progress';
import type { ExportProgress, LayerState } from '../../../shared/export/types';

/** Every call is a second later, so the progress throttle delivers every state (no timing involved). */
export function everyEventClock(): Clock {
  let t = 0;
  return { now: () => (t += 1000), setTimeout: () => null, clearTimeout: () => undefined };
}

/** Per layer, every state seen in order (repeats collapsed). */
export function statesSeen(events: ExportProgress[]): Map<string, LayerState[]> {
  const seen = new Map<string, LayerState[]>();
  for (const e of events) {
    for (const l of e.layers) {
      const list = seen.get(l.blob) ?? [];
      if (list.at(-1) !== l.state) list.push(l.state);
      seen.set(l.blob, list);
    }
  }
  return seen;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Every file under `<root>/blobs/sha256` hashes to its name: nothing unverified was published
 * (partial downloads live in ingest/, which is not looked at). Returns the digests found.
 */
export async function assertAllBlobsVerified(root: string): Promise<string[]> {
  const dir = join(root, 'blobs', 'sha256');
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    const actual = await sha256File(join(dir, name));
    assert.equal(actual, `sha256:${name}`, `${join(dir, name)} does not hash to its name`);
  }
  return names.map((n) => `sha256:${n}`);
}

/** The manifest index.json tags as `tag`, or null. */
export async function taggedManifest(dest: string, tag = 'latest'): Promise<{ digest: string; mediaType: string } | null> {
  const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[] };
  const m = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
  return m ? { digest: m.digest, mediaType: m.mediaType } : null;
}

/** The diffIDs (containerd.io/uncompressed) of the tagged manifest's layers, in order. */
export async function layerDiffIds(dest: string, tag = 'latest'): Promise<string[]> {
  const m = await taggedManifest(dest, tag);
  assert.ok(m, `${dest}: no manifest tagged ${tag}`);
  const json = JSON.parse(await readFile(join(dest, 'blobs', 'sha256', m.digest.slice('sha256:'.length)), 'utf8')) as { layers?: { annotations?: Record<string, string> }[]; manifests?: { annotations?: Record<string, string>; mediaType: string }[] };
  const layers = json.layers ?? (json.manifests ?? []).filter((d) => !d.mediaType.includes('buildkit'));
  return layers.map((l) => l.annotations?.['containerd.io/uncompressed'] ?? '');
}
