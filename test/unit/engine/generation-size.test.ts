/** The generations list's Size is the generation's bytes (manifest, config, layers), not the manifest's alone. */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listGenerations } from '../../../electron/engine/sources/generations';
import { fixture } from '../../helpers/fixtures';

const CONFIG_MT = 'application/vnd.buildkit.cacheconfig.v0';

/** Every cache manifest in the folder with its bytes, read from the raw files without the engine. */
function rawGenerationBytes(dir: string): Map<string, { manifest: number; total: number }> {
  const out = new Map<string, { manifest: number; total: number }>();
  const folder = join(dir, 'blobs', 'sha256');
  for (const hex of readdirSync(folder)) {
    const file = join(folder, hex);
    const bytes = readFileSync(file);
    if (bytes[0] !== 0x7b) continue;
    let doc: { config?: { mediaType: string; digest: string; size: number }; layers?: { digest: string; size: number }[]; manifests?: { mediaType: string; digest: string; size: number }[] };
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue;
    }
    const descs = doc.config?.mediaType === CONFIG_MT ? [doc.config, ...(doc.layers ?? [])] : (doc.manifests ?? []).some((d) => d.mediaType === CONFIG_MT) ? doc.manifests! : null;
    if (!descs) continue;
    const distinct = new Map(descs.map((d) => [d.digest, d.size]));
    const manifest = statSync(file).size;
    out.set(`sha256:${hex}`, { manifest, total: manifest + [...distinct.values()].reduce((a, b) => a + b, 0) });
  }
  return out;
}

describe('generations: size', () => {
  for (const [name, dir] of [
    ['dto (image manifests, 4 generations)', fixture.dto],
    ['drone (OCI index form)', fixture.drone],
  ] as const) {
    it(`${name}: totalBytes is the manifest plus its config and distinct layers; size stays the manifest's`, async () => {
      const want = rawGenerationBytes(dir);
      const gens = await listGenerations(dir);
      assert.equal(gens.length, want.size);
      for (const g of gens) {
        const w = want.get(g.digest);
        assert.ok(w, g.digest);
        assert.equal(g.size, w.manifest, `${g.digest} manifest size`);
        assert.equal(g.totalBytes, w.total, `${g.digest} total`);
        assert.ok(g.totalBytes > g.size * 10, 'a generation is far larger than its manifest');
      }
    });
  }
});
