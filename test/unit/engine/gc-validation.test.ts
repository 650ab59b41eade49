/**
 * gc reads every reachable document with inspect's validation and refuses (deleting nothing, naming
 * the file and the field) when one is invalid; and it follows every index.json entry, not the first.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { runExport } from '../../../electron/engine/export/exporter';
import { collectGarbage, findOrphans } from '../../../electron/engine/store/gc';
import { putTag, readIndex, resolveTag } from '../../../electron/engine/store/layout-index';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { fixture } from '../../helpers/fixtures';
import { generate } from '../export/export-helpers';
import { blobFile, copyFixture, presentDigests, readIndexJson, referencedBy, rewriteTaggedManifest } from './gc-helpers';
import type { RawDescriptor } from './gc-helpers';

let base: string;
let n = 0;
const scratch = () => join(base, `d-${n++}`);
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'cachescope-gc-valid-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** The first layer of the tagged dto manifest whose blob is present (the one a bad digest would orphan). */
function presentLayer(dir: string): { index: number; digest: string } {
  const m = JSON.parse(readFileSync(blobFile(dir, readIndexJson(dir).manifests[0].digest), 'utf8')) as { layers: RawDescriptor[] };
  const index = m.layers.findIndex((l) => existsSync(blobFile(dir, l.digest)));
  return { index, digest: m.layers[index].digest };
}

interface Hostile {
  name: string;
  /** Makes the layout hostile; returns the file and field the refusal must name. */
  make: (dir: string) => Promise<{ file: string; field: string }>;
}

const HOSTILE: Hostile[] = [
  {
    name: 'a layer digest that walks out of blobs/ ("sha256:../../../etc/passwd")',
    make: async (dir) => {
      const { index } = presentLayer(dir);
      const file = await rewriteTaggedManifest(dir, (m) => ((m.layers as RawDescriptor[])[index].digest = 'sha256:../../../etc/passwd'));
      return { file, field: `layers[${index}].digest` };
    },
  },
  {
    name: 'a layer digest in uppercase hex',
    make: async (dir) => {
      const { index, digest } = presentLayer(dir);
      const file = await rewriteTaggedManifest(dir, (m) => ((m.layers as RawDescriptor[])[index].digest = `sha256:${digest.slice(7).toUpperCase()}`));
      return { file, field: `layers[${index}].digest` };
    },
  },
  {
    name: 'a config digest that is not a string',
    make: async (dir) => {
      const file = await rewriteTaggedManifest(dir, (m) => ((m.config as Record<string, unknown>).digest = 42));
      return { file, field: 'config.digest' };
    },
  },
  {
    name: '"manifests": null in index.json',
    make: async (dir) => {
      await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}');
      return { file: join(dir, 'index.json'), field: 'manifests' };
    },
  },
  {
    name: 'index.json without "manifests"',
    make: async (dir) => {
      await writeFile(join(dir, 'index.json'), '{"schemaVersion":2}');
      return { file: join(dir, 'index.json'), field: 'manifests' };
    },
  },
  {
    name: 'a tagged manifest whose bytes do not hash to its digest',
    make: async (dir) => {
      const live = readIndexJson(dir).manifests[0];
      const file = blobFile(dir, live.digest);
      const text = readFileSync(file, 'utf8');
      await writeFile(file, text.replace('"layers"', '"layerz"').replace('"schemaVersion":2', '"schemaVersion":3'));
      return { file, field: 'manifests[0]' };
    },
  },
];

describe('gc refuses what inspect rejects, and deletes nothing', () => {
  for (const h of HOSTILE) {
    for (const dryRun of [true, false]) {
      it(`${h.name} (${dryRun ? 'gc --dry-run' : 'gc'})`, async () => {
        const dir = await copyFixture(fixture.dto, scratch());
        const { file, field } = await h.make(dir);
        const before = presentDigests(dir);
        let caught: unknown;
        const report = await collectGarbage(dir, { dryRun }).catch((e: unknown) => (caught = e));
        assert.ok(caught instanceof CacheError, `gc must refuse, but it planned to delete ${JSON.stringify((report as { deleted?: unknown }).deleted)}`);
        assert.ok(caught.message.includes(file), `names the file: ${caught.message}`);
        assert.ok(caught.message.includes(field), `names the field ${field}: ${caught.message}`);
        assert.deepEqual(presentDigests(dir), before, 'nothing was deleted');
        assert.equal(existsSync(join(dir, 'index.json.lock')), false, 'the lock was released');
      });
    }
  }

  it('findOrphans (the Orphans view) still answers on such a layout, and lists the problem', async () => {
    const dir = await copyFixture(fixture.dto, scratch());
    await HOSTILE[0].make(dir);
    const orphans = await findOrphans(dir);
    assert.equal(orphans.problems.length, 1);
    assert.match(orphans.problems[0], /layers\[\d+\]\.digest/);
  });
});

describe('gc and a tagged manifest that is absent', () => {
  for (const dryRun of [true, false]) {
    it(`refuses to delete anything, naming the entry and the digest (${dryRun ? 'gc --dry-run' : 'gc'})`, async () => {
      const dir = await copyFixture(fixture.dto, scratch());
      const live = readIndexJson(dir).manifests[0].digest;
      await rm(blobFile(dir, live));
      const before = presentDigests(dir);
      let caught: unknown;
      await collectGarbage(dir, { dryRun }).catch((e: unknown) => (caught = e));
      assert.ok(caught instanceof CacheError, 'gc must refuse: the missing manifest may reference any present blob');
      assert.ok(caught.message.includes('manifests[0]') && caught.message.includes(live), caught.message);
      assert.deepEqual(presentDigests(dir), before, 'nothing was deleted');
    });
  }

  it('with nothing to delete (a layout of index.json only) it reports zero and succeeds', async () => {
    const report = await collectGarbage(fixture.indexOnlySaas, { dryRun: true });
    assert.deepEqual(report.deleted, []);
  });
});

describe('gc follows every index.json entry', () => {
  /** dto's orphaned manifests, found from the raw JSON. */
  const orphanManifests = (dir: string) => {
    const live = referencedBy(dir, readIndexJson(dir).manifests[0].digest);
    return presentDigests(dir).filter((d) => !live.has(d) && readFileSync(blobFile(dir, d), 'utf8').startsWith('{"schemaVersion":2'));
  };

  for (const position of ['after', 'before'] as const) {
    it(`a second tag ${position} "latest" keeps everything its manifest reaches`, async () => {
      const dir = await copyFixture(fixture.dto, scratch());
      const old = orphanManifests(dir)[0];
      const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: old, size: readFileSync(blobFile(dir, old)).length };
      await putTag(dir, 'old', desc);
      if (position === 'before') {
        const index = readIndexJson(dir);
        index.manifests.reverse();
        await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: index.manifests }));
      }
      const live = new Set<string>();
      for (const e of readIndexJson(dir).manifests) for (const d of referencedBy(dir, e.digest)) live.add(d);
      const expected = presentDigests(dir).filter((d) => !live.has(d));
      const report = await collectGarbage(dir);
      assert.deepEqual(report.deleted.map((d) => d.digest).sort(), expected);
      for (const d of live) if (presentDigests(fixture.dto).includes(d)) assert.ok(existsSync(blobFile(dir, d)), `${d} kept`);
    });
  }

  it('an index.json entry that calls its manifest a layer is still followed, as inspect reads it', async () => {
    const dir = await copyFixture(fixture.dto, scratch());
    const index = readIndexJson(dir);
    const live = index.manifests[0].digest;
    index.manifests[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: index.manifests }));
    const report = await collectGarbage(dir);
    const reached = referencedBy(dir, live);
    assert.deepEqual(report.deleted.filter((d) => reached.has(d.digest)), [], 'nothing the tagged manifest references was deleted');
    const o = await openCacheSource(dir);
    assert.equal(o.model.norm.layers.some((l) => o.present.has(l.blob)), true);
  });

  it('a folder the exporter tagged "latest" and "zstd" loses nothing, and both tags still open whole', async () => {
    const src = scratch();
    await generate(src, { seed: 11, stages: 2, layersPerStage: 3, layerBytes: 20_000 });
    const dest = scratch();
    const opened = await openCacheSource(src);
    await runExport({ opened, dest, options: {}, verifyMemo: null });
    await runExport({ opened, dest, options: { tag: 'zstd', compression: 'zstd', 'force-compression': true }, verifyMemo: null });
    const index = await readIndex(dest);
    assert.deepEqual(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']), ['latest', 'zstd']);
    const before = presentDigests(dest);
    const report = await collectGarbage(dest);
    assert.deepEqual(report.deleted, []);
    assert.deepEqual(presentDigests(dest), before);
    for (const tag of ['latest', 'zstd']) {
      const entry = resolveTag(index, tag);
      for (const d of referencedBy(dest, entry.digest)) assert.ok(existsSync(blobFile(dest, d)), `${tag}: ${d} present`);
      const o = await openCacheSource(`${dest}:${tag}`);
      assert.equal(o.model.norm.layers.every((l) => o.present.has(l.blob)), true, `${tag} opens with every layer present`);
    }
  });
});
