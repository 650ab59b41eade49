/**
 * Real data: the layers of every buildkit-v0.24-* fixture hold exactly what the Dockerfile in
 * buildkit-v0.24-context copies; every compression (gzip, zstd, eStargz, none) lists the same; and
 * `diff --files` names exactly the one file that differs between two builds.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openListingCache } from '../../../electron/engine/contents/listing-cache';
import { openLayer, statedDiffID } from '../../../electron/engine/contents/open-layer';
import type { LayerEntry } from '../../../electron/engine/contents/layer-entry';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { main } from '../../../electron/cli/main';
import { FIXTURES } from '../../helpers/fixtures';
import { CONTEXT_FILES, writeBuildCache } from './two-builds';

const CONTEXT = join(FIXTURES, 'buildkit-v0.24-context');

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-contents-real-'));
  // The CLI below writes its listings here, never to the user's cache.
  process.env.CACHESCOPE_CACHE_DIR = join(tmp, 'user-cache');
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** What each COPY of the Dockerfile puts in its layer: destination path → context file. */
function copiesOf(dockerfile: string): Map<string, string>[] {
  const stages = new Map<string, Map<string, string>>();
  const layers: Map<string, string>[] = [];
  let current = new Map<string, string>();
  for (const line of dockerfile.split('\n').map((l) => l.trim())) {
    const from = /^FROM \S+ AS (\S+)$/i.exec(line);
    if (from) {
      current = new Map();
      stages.set(from[1], current);
      continue;
    }
    const copy = /^COPY (?:--from=(\S+) )?(\S+) (\S+)$/i.exec(line);
    if (!copy) continue;
    const [, fromStage, src, dest] = copy;
    const layer = new Map<string, string>();
    if (fromStage) {
      // COPY --from=stage /c /dest: every file the stage put under /c.
      for (const [p, file] of stages.get(fromStage)!) if (`/${p}`.startsWith(`${src}/`)) layer.set(`${dest.replace(/^\//, '')}${`/${p}`.slice(src.length)}`, file);
    } else {
      layer.set(dest.replace(/^\//, ''), src);
    }
    for (const [p, file] of layer) current.set(p, file);
    layers.push(layer);
  }
  return layers;
}

const fileKey = (entries: LayerEntry[]) =>
  entries
    .filter((e) => e.type === 'file')
    .map((e) => `${e.path}:${e.size}`)
    .sort()
    .join(',');

describe('fixture layers hold what the Dockerfile copies', async () => {
  const dockerfile = await readFile(join(CONTEXT, 'Dockerfile'), 'utf8');
  const expected = new Map<string, string>();
  for (const layer of copiesOf(dockerfile)) {
    const parts: string[] = [];
    for (const [p, src] of layer) parts.push(`${p}:${(await stat(join(CONTEXT, src))).size}`);
    expected.set(parts.sort().join(','), [...layer.keys()].join(' '));
  }
  const fixtures = (await readdir(FIXTURES)).filter((n) => n.startsWith('buildkit-v0.24-') && n !== 'buildkit-v0.24-context').sort();
  const byDiffID = new Map<string, { fixture: string; entries: LayerEntry[] }>();

  for (const name of fixtures) {
    it(`${name}: every layer is one COPY of the Dockerfile, with its files' sizes`, async () => {
      const opened = await openCacheSource(join(FIXTURES, name));
      const seen = new Set<string>();
      const blobs = [...new Set(opened.model.norm.layers.map((l) => l.blob))];
      assert.ok(blobs.length > 0);
      for (const blob of blobs) {
        const layer = await openLayer(opened, blob, { cache: null, verifyDiffID: true });
        const key = fileKey(layer.listing.entries);
        assert.ok(expected.has(key), `${name}: layer ${blob} holds ${key}, which no COPY makes`);
        seen.add(key);
        // The content hashes to the diffID the cache states, whatever the compression.
        assert.equal(layer.listing.diffID, statedDiffID(opened.model, blob), `${name}: ${blob}`);
        assert.equal(layer.warning, null);
        const same = byDiffID.get(layer.listing.diffID!);
        if (same) assert.deepEqual(layer.listing.entries, same.entries, `${name} and ${same.fixture} list ${layer.listing.diffID} alike`);
        else byDiffID.set(layer.listing.diffID!, { fixture: name, entries: layer.listing.entries });
      }
      // mode=min keeps only the final result's chain: its COPYs, not the "other" stage's.
      const want = name === 'buildkit-v0.24-mode-min' ? 5 : expected.size;
      assert.equal(seen.size, want, `${name}: ${[...seen].join(' | ')}`);
    });
  }

  it('the mixed gzip/zstd and uncompressed fixtures list the same as the gzip one, layer for layer', async () => {
    const gzip = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
    for (const other of ['buildkit-v0.24-mixed-gzip-zstd', 'buildkit-v0.24-uncompressed', 'buildkit-v0.24-estargz']) {
      const o = await openCacheSource(join(FIXTURES, other));
      const list = async (src: typeof o) => {
        const out = new Map<string, string>();
        for (const blob of new Set(src.model.norm.layers.map((l) => l.blob))) {
          const { listing } = await openLayer(src, blob, { cache: null });
          out.set(fileKey(listing.entries), JSON.stringify(listing.entries.map((e) => [e.path, e.type, e.size, e.mode, e.uid, e.gid, e.link ?? null])));
        }
        return out;
      };
      assert.deepEqual(await list(o), await list(gzip), other);
    }
  });

  it('eStargz: the TOC after the end-of-archive marker is not a file of the layer', async () => {
    const opened = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-estargz'));
    for (const blob of new Set(opened.model.norm.layers.map((l) => l.blob))) {
      const { listing } = await openLayer(opened, blob, { cache: openListingCache(join(tmp, 'estargz-listings')) });
      assert.ok(!listing.entries.some((e) => e.path === 'stargz.index.json'), blob);
      assert.deepEqual(listing.notes, ['1 entry after the end-of-archive marker left out (not applied by containerd; an eStargz TOC lives there)']);
    }
  });
});

describe('diff --files', () => {
  it('names exactly the file that changed between two builds, then says which blob is missing', async () => {
    const a = join(tmp, 'build-a');
    const b = join(tmp, 'build-b');
    await writeBuildCache(a, join(tmp, 'work-a'), CONTEXT_FILES, 'a');
    await writeBuildCache(b, join(tmp, 'work-b'), { ...CONTEXT_FILES, 'app/src/app.ts': 'export const v = 2; // changed\n' }, 'b');
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(`ERR ${t}`), isTty: false };
    assert.equal(await main(['diff', a, b, '--files', '--json'], io), 1);
    const json = JSON.parse(out[0]) as { divergences: { record: number }[]; files: { paths: string[]; text: string; missing: string[] }[] };
    assert.equal(json.divergences.length, 1);
    assert.deepEqual(json.files[0].paths, ['app/src/app.ts']);
    assert.equal(json.files[0].text, 'files that differ: app/src/app.ts');
    out.length = 0;
    assert.equal(await main(['diff', a, b, '--files'], io), 1);
    assert.match(out.join('\n'), /leaf #4: input 1 of record #3 changed: content checksum .*; files that differ: app\/src\/app\.ts$/m);
    // Without --files nothing is read and no files are named.
    out.length = 0;
    await main(['diff', a, b], io);
    assert.doesNotMatch(out.join('\n'), /files that differ/);

    // A's copy layer gone (and no listing cached for it): the explanation says which blob is missing.
    const fresh = join(tmp, 'fresh-cache');
    process.env.CACHESCOPE_CACHE_DIR = fresh;
    const openedA = await openCacheSource(a);
    const copyBlob = openedA.model.norm.layers[1].blob;
    await rm(join(a, 'blobs', 'sha256', copyBlob.slice(7)));
    out.length = 0;
    await main(['diff', a, b, '--files', '--json'], io);
    const j2 = JSON.parse(out[0]) as { files: { text: string; paths: string[] }[] };
    assert.equal(j2.files[0].text, `A's blob ${copyBlob} is missing, so its files cannot be compared`);
    assert.deepEqual(j2.files[0].paths, []);
  });

  it('an edit that keeps the size is named only when --content compares the contents', async () => {
    const a = join(tmp, 'same-size-a');
    const b = join(tmp, 'same-size-b');
    await writeBuildCache(a, join(tmp, 'work-sa'), CONTEXT_FILES, 'sa');
    // Same length as the original: only the bytes differ.
    await writeBuildCache(b, join(tmp, 'work-sb'), { ...CONTEXT_FILES, 'app/src/app.ts': 'export const v = 2;\n' }, 'sb');
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(`ERR ${t}`), isTty: false };
    await main(['diff', a, b, '--files', '--json'], io);
    assert.equal((JSON.parse(out[0]) as { files: { text: string }[] }).files[0].text, 'files that differ: none by size, mode or link target (--content compares the contents)');
    out.length = 0;
    await main(['diff', a, b, '--files', '--content', '--json'], io);
    const j = JSON.parse(out[0]) as { files: { text: string; paths: string[] }[] };
    assert.deepEqual(j.files[0].paths, ['app/src/app.ts']);
    assert.equal(j.files[0].text, 'files that differ: app/src/app.ts');
  });

  it('inspect --json gains wasted bytes per result only once its listings are cached, reading no blob', async () => {
    process.env.CACHESCOPE_CACHE_DIR = join(tmp, 'inspect-cache');
    const layout = join(tmp, 'waste-build');
    await writeBuildCache(layout, join(tmp, 'work-w'), CONTEXT_FILES, 'w');
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(`ERR ${t}`), isTty: false };
    await main(['inspect', layout, '--json'], io);
    assert.equal((JSON.parse(out[0]) as { waste?: unknown }).waste, undefined, 'nothing listed yet: no waste, and no blob was read');
    assert.equal(await main(['files', layout, '--record', '4', '--squash'], io), 0);
    out.length = 0;
    await main(['inspect', layout, '--json'], io);
    const waste = (JSON.parse(out[0]) as { waste: { record: number; efficiency: number; wastedBytes: number }[] }).waste;
    assert.deepEqual(waste.map((w) => [w.record, w.efficiency, w.wastedBytes]), [[3, 1, 0], [4, 1, 0]]);
  });

  it('files --layer/--record print the tree, changes and waste', async () => {
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(`ERR ${t}`), isTty: false };
    const src = join(FIXTURES, 'buildkit-v0.24-index-gzip');
    const opened = await openCacheSource(src);
    const final = opened.model.graph.resolutions.map((r, i) => [i, r.stack.length] as const).sort((x, y) => y[1] - x[1])[0][0];
    assert.equal(await main(['files', src, '--record', String(final), '--squash', '--json'], io), 0);
    const sq = JSON.parse(out[0]) as { files: LayerEntry[]; waste: { efficiency: number } };
    assert.deepEqual(sq.files.filter((e) => e.type === 'file').map((e) => e.path), ['a.txt', 'again/a.txt', 'b.txt', 'e.txt', 'fromother/c.txt', 'fromother/d.txt']);
    assert.equal(sq.waste.efficiency, 1);
    out.length = 0;
    assert.equal(await main(['files', src, '--record', String(final), '--changes'], io), 0);
    assert.match(out[0], /changes of layer sha256:\w+ against the 4 layer\(s\) below it: 2/);
    assert.deepEqual(out.slice(1).map((l) => l.split(/\s+/).at(-1)), ['again', 'again/a.txt']);
    out.length = 0;
    assert.equal(await main(['files', src, '--layer', '99'], io), 1);
    assert.match(out.join('\n'), /layer entry 99 does not exist: the cache has 7/);
  });
});
