import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ContentStore } from '../../../electron/engine/store/content-store';
import type { Clock } from '../../../electron/engine/export/export-progress';
import { previewExport, runExport } from '../../../electron/engine/export/exporter';
import type { ExportRun } from '../../../electron/engine/export/exporter';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { memoryVerifyMemo } from '../../../electron/engine/store/verify-memo';
import type { VerifyMemo } from '../../../electron/engine/store/verify-memo';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { CacheError } from '../../../shared/contract/errors';
import type { ExportOptions, ExportProgress, LayerState } from '../../../shared/export/types';
import { Annotation, MediaType, compressionOfMediaType } from '../../../shared/oci/media-types';
import type { Descriptor, ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { fixture } from '../../helpers/fixtures';
import { assertBlobsComplete, copyLayout, diffIdOf, exists, generate, meaning, rewriteManifest, sha256 } from './export-helpers';

let tmp: string;
let src: string;
let source: OpenedSource;
let n = 0;
const memo = memoryVerifyMemo();
const fresh = () => join(tmp, `dest-${++n}`);

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-export-'));
  src = join(tmp, 'src');
  await generate(src);
  source = await openCacheSource(src);
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function run(dest: string, options: ExportOptions = {}, extra: Partial<ExportRun> = {}) {
  const events: ExportProgress[] = [];
  // Remembered verifications stay in this process (the per-user cache is tested with real CLI runs).
  const result = await runExport({ opened: extra.opened ?? source, dest, options, onProgress: (p) => events.push(p), verifyMemo: memo, ...extra });
  return { result, events };
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<CacheError> {
  let caught: unknown;
  await p.catch((e: unknown) => (caught = e));
  assert.ok(caught instanceof CacheError, `expected a CacheError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

function manifestLayers(m: ImageManifest | ImageIndex): Descriptor[] {
  return 'layers' in m && m.layers ? m.layers : (m as ImageIndex).manifests.filter((d) => d.mediaType !== MediaType.cacheConfigV0);
}

describe('export: identity', () => {
  it('same form, no conversion: byte-identical config and manifest, same digests, layers hard-linked', async () => {
    const dest = fresh();
    const { result } = await run(dest);
    assert.equal(result.descriptor!.digest, source.manifestDescriptor!.digest);
    assert.equal(result.config, source.model.config.digest);
    assert.equal(result.counts.linked, new Set(source.model.norm.layers.map((l) => l.blob)).size);
    const back = await openCacheSource(dest);
    assert.equal(back.texts.manifest, source.texts.manifest);
    assert.equal(back.texts.config, source.texts.config);
    assert.equal(await readFile(join(dest, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as ImageIndex;
    assert.deepEqual(index.manifests, [{ ...result.descriptor!, annotations: { [Annotation.refName]: 'latest' } }]);
  });

  it('a real fixture without its layers fails before writing anything, naming every missing blob', async () => {
    const margo = await openCacheSource(fixture.margo);
    const dest = fresh();
    const err = await rejects(run(dest, {}, { opened: margo }), 'missing-blob', /^missing blob sha256:[0-9a-f]{64}(\nmissing blob sha256:[0-9a-f]{64})+$/);
    const referenced = new Set(margo.model.norm.layers.map((l) => l.blob));
    assert.equal(err.message.split('\n').length, referenced.size);
    assert.equal(await exists(dest), false, 'nothing may be written');
  });
});

describe('export: round trip in every form, media-type family and compression', () => {
  const forms: [string, ExportOptions][] = [
    ['image manifest', {}],
    ['OCI index', { 'image-manifest': false }],
    ['Docker manifest list', { 'oci-mediatypes': false }],
  ];
  const compressions: [string, ExportOptions][] = [
    ['kept', {}],
    ['uncompressed', { compression: 'uncompressed', 'force-compression': true }],
    ['gzip', { compression: 'gzip', 'force-compression': true }],
    ['zstd', { compression: 'zstd', 'force-compression': true }],
  ];
  for (const [formName, formOpts] of forms) {
    for (const [compName, compOpts] of compressions) {
      it(`${formName}, ${compName}: same records, inputs and results; digests change only where converted`, async () => {
        const dest = fresh();
        const options = { ...formOpts, ...compOpts };
        const { result } = await run(dest, options);
        const back = await openCacheSource(dest);
        assert.deepEqual(meaning(back), meaning(source));
        assert.equal(back.model.norm.layers.length, source.model.norm.layers.length);
        const wantManifest = formName === 'image manifest' ? MediaType.ociManifest : formName === 'OCI index' ? MediaType.ociIndex : MediaType.dockerManifestList;
        assert.equal(result.descriptor!.mediaType, wantManifest);
        assert.equal(back.model.manifest!.mediaType, wantManifest);
        const target = compOpts.compression ?? 'gzip';
        const oci = formOpts['oci-mediatypes'] !== false;
        const bySourceDiff = new Map([...source.model.descriptors.values()].map((d) => [d.annotations![Annotation.uncompressed], d]));
        for (const d of manifestLayers(JSON.parse(back.texts.manifest!))) {
          const diff = d.annotations![Annotation.uncompressed];
          const orig = bySourceDiff.get(diff)!;
          assert.ok(orig, `exported layer ${d.digest} has a diffID the source does not have`);
          assert.equal(compressionOfMediaType(d.mediaType), target);
          assert.equal(d.mediaType.startsWith('application/vnd.docker.'), !oci, d.mediaType);
          const changed = target !== 'gzip';
          assert.equal(d.digest !== orig.digest, changed, `digest of ${orig.digest}`);
          assert.equal(d.annotations![Annotation.createdAt], orig.annotations![Annotation.createdAt]);
          const file = join(dest, 'blobs', 'sha256', d.digest.slice(7));
          assert.equal(await diffIdOf(file, d.mediaType), diff, `${d.digest} must decompress to its diffID`);
        }
        if (target === 'uncompressed') for (const d of manifestLayers(JSON.parse(back.texts.manifest!))) assert.equal(d.digest, d.annotations![Annotation.uncompressed]);
        await assertBlobsComplete(dest);
        // The config is sorted by blob, as BuildKit's sortConfig leaves it.
        const blobs = back.model.norm.layers.map((l) => l.blob);
        assert.deepEqual(blobs, [...blobs].sort());
      });
    }
  }

  it('a zstd index-form source converts back to gzip', async () => {
    const zsrc = join(tmp, 'zsrc');
    await generate(zsrc, { compression: 'zstd', form: 'index', seed: 11 });
    const z = await openCacheSource(zsrc);
    const dest = fresh();
    await run(dest, { compression: 'gzip', 'force-compression': true }, { opened: z });
    const back = await openCacheSource(dest);
    assert.deepEqual(meaning(back), meaning(z));
    for (const d of manifestLayers(JSON.parse(back.texts.manifest!))) assert.equal(d.mediaType, MediaType.ociLayerGzip);
  });
});

describe('export: progress', () => {
  it('uses BuildKit texts and moves each layer through its states to a final one', async () => {
    const dest = fresh();
    const { result, events } = await run(dest, { compression: 'zstd', 'force-compression': true });
    const lines = events.flatMap((e) => e.lines ?? []);
    const back = await openCacheSource(dest);
    for (const blob of new Set(back.model.norm.layers.map((l) => l.blob))) assert.ok(lines.includes(`writing layer ${blob}`), `no "writing layer ${blob}"`);
    assert.ok(lines.includes(`writing config ${result.config}`));
    assert.equal(lines.at(-1), `writing cache image manifest ${result.descriptor!.digest}`);
    const seen = new Map<string, Set<LayerState>>();
    for (const e of events) {
      for (const l of e.layers) {
        for (const k of ['bytesDone', 'bytesTotal', 'bytesPerSecond'] as const) assert.equal(typeof l[k], 'number');
        if (!seen.has(l.blob)) seen.set(l.blob, new Set());
        seen.get(l.blob)!.add(l.state);
      }
    }
    const last = events.at(-1)!;
    assert.equal(last.layers.length, new Set(source.model.norm.layers.map((l) => l.blob)).size);
    for (const l of last.layers) {
      assert.equal(l.state, 'done');
      assert.equal(l.bytesDone, l.bytesTotal);
      assert.match(l.target!, /^sha256:/);
      assert.equal(l.text, `writing layer ${l.target}`);
    }
    // A second run into the same folder finds everything: each layer ends in `exists`.
    const again = await run(dest, { compression: 'zstd', 'force-compression': true });
    assert.deepEqual(new Set(again.events.at(-1)!.layers.map((l) => l.state)), new Set(['exists']));
    const linked = await run(fresh());
    assert.deepEqual(new Set(linked.events.at(-1)!.layers.map((l) => l.state)), new Set(['linked']));
    const copied = await run(fresh(), {}, { allowLink: false });
    assert.deepEqual(new Set(copied.events.at(-1)!.layers.map((l) => l.state)), new Set(['done']));
  });

  it('copies instead of hard-linking when the destination is on another file system', async (t) => {
    if (!(await exists('/dev/shm')) || (await stat('/dev/shm')).dev === (await stat(tmp)).dev) {
      t.skip('no second file system (/dev/shm) here');
      return;
    }
    const other = await mkdtemp('/dev/shm/cachescope-export-');
    try {
      const { result, events } = await run(join(other, 'cache'));
      const unique = new Set(source.model.norm.layers.map((l) => l.blob)).size;
      assert.deepEqual(result.counts, { written: unique, converted: 0, linked: 0, exists: 0, reused: 0 });
      assert.deepEqual(new Set(events.at(-1)!.layers.map((l) => l.state)), new Set(['done']));
      assert.equal(result.descriptor!.digest, source.manifestDescriptor!.digest);
      await assertBlobsComplete(join(other, 'cache'));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('goes through the throttle of the injected clock, and the last state always arrives', async () => {
    // A clock that never moves and whose timers never fire: the throttle lets the first event through
    // at once, holds every later one, and the end of the export flushes the newest state.
    // (The throttle's rate itself is tested against a fake clock in progress.test.ts.)
    const frozen: Clock = { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined };
    const { result, events } = await run(fresh(), { compression: 'zstd', 'force-compression': true }, { clock: frozen });
    assert.equal(events.length, 2, `expected the first and the final event only, got ${events.length}`);
    assert.equal(events[0].text, 'preparing build cache for export');
    assert.ok(events[1].layers.every((l) => l.state === 'done'), 'the final event shows every layer done');
    assert.equal(events[1].text, `writing cache image manifest ${result.descriptor!.digest}`);
    // Lines are never lost to the throttle: the final event carries every line since the first.
    assert.ok(events[1].lines!.includes(`writing config ${result.config}`));
  });
});

/** now() moves 1 s per call; timers run at once: a throttle built on it never holds an event back. */
function steppingClock(): Clock {
  let t = 0;
  return { now: () => (t += 1000), setTimeout: (fn: () => void) => setTimeout(fn, 0), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
}

describe('export: cancel and re-run', () => {
  it('a cancel mid-conversion leaves the old index.json and no partial blob; the re-run reuses finished blobs', async () => {
    const big = join(tmp, 'cancel-src');
    await generate(big, { seed: 5, layerBytes: 3_000_000, stages: 1, layersPerStage: 5 });
    const o = await openCacheSource(big);
    const dest = fresh();
    await run(dest, { tag: 'old' }, { opened: o });
    const indexBefore = await readFile(join(dest, 'index.json'), 'utf8');
    const controller = new AbortController();
    let doneLayers = 0;
    let doneAtAbort = -1;
    const p = runExport({
      opened: o,
      dest,
      options: { compression: 'zstd', 'force-compression': true, 'compression-level': 12 },
      signal: controller.signal,
      convertConcurrency: 1,
      // A clock that moves a second per look: the throttle lets every change through at once, so the
      // test sees the moment the first layer is done (a throttled event could skip past it).
      clock: steppingClock(),
      onProgress: (e) => {
        doneLayers = e.layers.filter((l) => l.state === 'done').length;
        // Stop once a layer is finished and others are still to convert (one at a time: the next is
        // converting or about to).
        if (doneAtAbort < 0 && doneLayers >= 1 && doneLayers < e.layers.length) {
          doneAtAbort = doneLayers;
          controller.abort();
        }
      },
    });
    await rejects(p, 'cancelled', /index\.json was not changed/);
    assert.ok(doneAtAbort >= 1, 'cancelled with a layer done and others left');
    assert.equal(await readFile(join(dest, 'index.json'), 'utf8'), indexBefore);
    await assertBlobsComplete(dest);
    assert.deepEqual(await readdir(join(dest, 'ingest')), [], 'aborted writers remove their ingest files');
    const again = await run(dest, { compression: 'zstd', 'force-compression': true, 'compression-level': 12 }, { opened: o });
    assert.ok(again.result.counts.exists >= 1, `expected finished blobs to be reused: ${JSON.stringify(again.result.counts)}`);
    assert.equal(again.result.counts.exists + again.result.counts.converted, new Set(o.model.norm.layers.map((l) => l.blob)).size);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as ImageIndex;
    assert.deepEqual(index.manifests.map((m) => m.annotations![Annotation.refName]), ['old', 'latest']);
  });
});

describe('export: missing blobs', () => {
  let holey: string;
  let gone: string[];
  before(async () => {
    holey = join(tmp, 'holey');
    await copyLayout(src, holey);
    const o = await openCacheSource(holey);
    // Two non-base blobs: every chain through them is incomplete.
    const L = o.model.norm.layers;
    gone = [...new Set(L.filter((l) => l.parent !== -1).map((l) => l.blob))].filter((b) => b !== 'sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1').slice(0, 2);
    for (const b of gone) await unlink(join(holey, 'blobs', 'sha256', b.slice(7)));
  });

  it('by default fails before writing anything and lists every missing blob', async () => {
    const o = await openCacheSource(holey);
    const dest = fresh();
    const err = await rejects(run(dest, {}, { opened: o }), 'missing-blob', /missing blob/);
    assert.deepEqual(err.message.split('\n').sort(), gone.map((b) => `missing blob ${b}`).sort());
    assert.equal(await exists(dest), false);
  });

  it('drop-missing exports the complete chains, drops the rest and their results, and says so in the preview', async () => {
    const o = await openCacheSource(holey);
    const dest = fresh();
    const L = o.model.norm.layers;
    const complete = o.model.graph.layerStacks.filter((s) => s!.every((i) => !gone.includes(L[i].blob)));
    const preview = await previewExport(o, { 'drop-missing': true });
    assert.equal(preview.error, null);
    assert.deepEqual(new Set(preview.missingBlobs), new Set(gone));
    assert.equal(preview.droppedLayers, L.length - complete.length);
    assert.ok(preview.droppedResults > 0);
    for (const l of preview.layers) assert.equal(l.dropped !== null, !complete.includes(o.model.graph.layerStacks[l.index]!), `layer ${l.index}`);
    assert.match(preview.layers.find((l) => gone.includes(l.blob))!.dropped!, /is absent from the source/);
    const strict = await previewExport(o, {});
    assert.deepEqual(strict.error!.split('\n').sort(), gone.map((b) => `missing blob ${b}`).sort());
    await run(dest, { 'drop-missing': true }, { opened: o });
    const back = await openCacheSource(dest);
    assert.equal(back.model.norm.layers.length, complete.length);
    assert.ok(back.model.norm.layers.length < L.length);
    for (const l of back.model.norm.layers) assert.ok(!gone.includes(l.blob));
    assert.equal(back.present.size, new Set(back.model.norm.layers.map((l) => l.blob)).size, 'every exported blob is there');
    // Each record keeps its result exactly when its whole stack survived.
    const before = meaning(o) as { stack: string[]; dropped: boolean }[];
    const afterwards = meaning(back) as { stack: string[]; dropped: boolean }[];
    const goneDiffs = new Set(gone.map((b) => o.model.descriptors.get(b)!.annotations![Annotation.uncompressed]));
    before.forEach((r, i) => {
      const keeps = r.stack.length > 0 && !r.stack.some((d) => goneDiffs.has(d));
      assert.deepEqual(afterwards[i].stack, keeps ? r.stack : [], `record ${i}`);
    });
    await assertBlobsComplete(dest);
  });
});

describe('export: bad input', () => {
  it('refuses a tag with "/" or ".." before touching anything', async () => {
    for (const tag of ['a/b', '..', 'x..y']) {
      const dest = fresh();
      await rejects(run(dest, { tag }), 'invalid-options', /invalid tag/);
      assert.equal(await exists(dest), false);
    }
  });

  it('refuses image-manifest=true with oci-mediatypes=false with BuildKit text', async () => {
    await rejects(run(fresh(), { 'image-manifest': true, 'oci-mediatypes': false }), 'invalid-options', /^invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format$/);
  });

  it('refuses a destination that is a file, and leaves the file alone', async () => {
    const file = join(tmp, 'a-file');
    await writeFile(file, 'keep me');
    await rejects(run(file), 'invalid-options', /is a file, not a folder/);
    assert.equal(await readFile(file, 'utf8'), 'keep me');
  });

  it('reports an unwritable destination clearly', async () => {
    let dest: string;
    if (process.getuid?.() === 0) {
      dest = '/sys/cachescope-export-test'; // not writable even for root
    } else {
      const ro = join(tmp, 'ro');
      await writeFile(join(tmp, 'placeholder'), '');
      await rm(ro, { recursive: true, force: true });
      await (await import('node:fs/promises')).mkdir(ro);
      await chmod(ro, 0o555);
      dest = join(ro, 'dest');
    }
    await rejects(run(dest), 'io', /cannot create the OCI layout in .*(permission denied|not permitted|read-only)/);
  });

  it('a full disk (injected ENOSPC in the store) is a clear error; no partial blob, old index.json kept', async () => {
    const dest = fresh();
    await run(dest, { tag: 'old' });
    const indexBefore = await readFile(join(dest, 'index.json'), 'utf8');
    const wrap = (store: ContentStore): ContentStore =>
      Object.assign(Object.create(store) as ContentStore, {
        writer(expected?: Parameters<ContentStore['writer']>[0], options?: Parameters<ContentStore['writer']>[1]) {
          const w = store.writer(expected, options);
          let seen = 0;
          const write = w._write.bind(w);
          w._write = (chunk: Buffer, enc: BufferEncoding, cb: (e?: Error | null) => void) => {
            seen += chunk.length;
            if (seen > 20_000) {
              const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
              return cb(new CacheError('io', `cannot write ingest: ${e.code}`, { errno: 'ENOSPC' }));
            }
            return write(chunk, enc, cb);
          };
          return w;
        },
      });
    const err = await rejects(run(dest, { compression: 'zstd', 'force-compression': true }, { wrapDestStore: wrap }), 'io', /no space left on the device that holds .* \(ENOSPC\)/);
    assert.match(err.message, /^error writing layer blob: /);
    assert.equal(await readFile(join(dest, 'index.json'), 'utf8'), indexBefore);
    await assertBlobsComplete(dest);
    assert.deepEqual(await readdir(join(dest, 'ingest')), []);
  });

  it('a real full disk (1 MiB tmpfs, when mounting is allowed) is the same clear error', async (t) => {
    const mnt = join(tmp, 'tiny');
    await (await import('node:fs/promises')).mkdir(mnt);
    const { spawnSync } = await import('node:child_process');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    if (m.status !== 0) {
      t.skip('cannot mount a tmpfs here (needs root); the injected ENOSPC test covers the path');
      return;
    }
    try {
      const big = join(tmp, 'enospc-src');
      await generate(big, { seed: 9, layerBytes: 600_000, stages: 1, layersPerStage: 3, compression: 'gzip' });
      const o = await openCacheSource(big);
      const dest = join(mnt, 'cache');
      await rejects(run(dest, { compression: 'uncompressed', 'force-compression': true }, { opened: o }), 'io', /ENOSPC/);
      await assertBlobsComplete(dest);
      assert.equal(await exists(join(dest, 'index.json')), false);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('a source blob whose bytes are not its digest is caught while streaming (convert, copy, verified link)', async () => {
    const bad = join(tmp, 'corrupt');
    await copyLayout(src, bad);
    const o = await openCacheSource(bad);
    const victim = o.model.norm.layers.find((l) => l.parent !== -1 && o.model.descriptors.get(l.blob)!.size > 1000)!.blob;
    const file = join(bad, 'blobs', 'sha256', victim.slice(7));
    // Replace the file (the copy may share its inode with the source through a hard link elsewhere).
    const bytes = await readFile(file);
    bytes[bytes.length - 10] ^= 0xff;
    await unlink(file);
    await writeFile(file, bytes);
    for (const [name, options, extra] of [
      ['convert', { compression: 'zstd', 'force-compression': true }, {}],
      ['copy', {}, { allowLink: false }],
      ['link (verified by default)', {}, {}],
      ['verified link', { verify: true }, {}],
    ] as const) {
      const dest = fresh();
      const err = await rejects(run(dest, options, { opened: o, ...extra }), 'digest-mismatch', new RegExp(victim.slice(7, 20)));
      assert.match(err.message, /^error writing layer blob: /, name);
      await assertBlobsComplete(dest);
      assert.equal(await exists(join(dest, 'blobs', 'sha256', victim.slice(7))), false, `${name}: no blob for the corrupt source`);
      assert.equal(await exists(join(dest, 'index.json')), false, `${name}: no index.json`);
    }
  });

  it('large copies (worker threads) check digests too, and a cancel mid-copy leaves nothing partial', async () => {
    const big = join(tmp, 'big-copy');
    await generate(big, { seed: 13, layerBytes: 3_000_000, stages: 1, layersPerStage: 4 });
    const o = await openCacheSource(big);
    const large = [...o.model.descriptors.values()].filter((d) => d.size >= 1 << 20);
    assert.ok(large.length >= 2, 'the fixture needs blobs large enough for the worker path');
    // A clean copy: every blob complete, same manifest as the source.
    const ok = fresh();
    const { result } = await run(ok, {}, { opened: o, allowLink: false });
    assert.equal(result.descriptor!.digest, o.manifestDescriptor!.digest);
    assert.equal(result.counts.written, new Set(o.model.norm.layers.map((l) => l.blob)).size);
    await assertBlobsComplete(ok);
    // Cancel while a worker is copying: the first finished copy pulls the plug on the others.
    const controller = new AbortController();
    const dest = fresh();
    const p = runExport({
      opened: o,
      dest,
      options: {},
      allowLink: false,
      copyConcurrency: 4,
      signal: controller.signal,
      wrapDestStore: (store) =>
        Object.assign(Object.create(store) as ContentStore, {
          adopt(...args: Parameters<ContentStore['adopt']>) {
            controller.abort();
            return store.adopt(...args);
          },
        }),
    });
    await rejects(p, 'cancelled', /cancelled/);
    await assertBlobsComplete(dest);
    assert.equal(await exists(join(dest, 'index.json')), false);
    assert.deepEqual(await readdir(join(dest, 'ingest')), [], 'aborted worker copies remove their temp files');
    // A corrupt large blob is refused after the worker hashed it; its temp file is gone.
    const victim = large[0].digest;
    const file = join(big, 'blobs', 'sha256', victim.slice(7));
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0xff;
    await unlink(file);
    await writeFile(file, bytes);
    const bad = fresh();
    const err = await rejects(run(bad, {}, { opened: o, allowLink: false }), 'digest-mismatch', /content hashes to sha256:[0-9a-f]{64}, not/);
    assert.match(err.message, new RegExp(victim.slice(7)));
    await assertBlobsComplete(bad);
    assert.equal(await exists(join(bad, 'blobs', 'sha256', victim.slice(7))), false);
    assert.deepEqual(await readdir(join(bad, 'ingest')), [], 'no temp copy is left behind');
  });

  it('a wrong containerd.io/uncompressed is caught when converting; a lying media type is corrected', async () => {
    const lie = join(tmp, 'lie');
    await copyLayout(src, lie);
    let victim = '';
    await rewriteManifest(lie, (m) => {
      const d = m.layers!.find((x) => x.size > 1000)!;
      victim = d.digest;
      for (const x of m.layers!) if (x.digest === victim) x.annotations![Annotation.uncompressed] = sha256('not the tar');
    });
    const o = await openCacheSource(lie);
    await rejects(run(fresh(), { compression: 'zstd', 'force-compression': true }, { opened: o }), 'digest-mismatch', /containerd\.io\/uncompressed annotation says/);

    const liar = join(tmp, 'liar');
    await copyLayout(src, liar);
    await rewriteManifest(liar, (m) => {
      for (const x of m.layers!) x.mediaType = MediaType.ociLayerZstd; // the bytes are gzip
    });
    const l = await openCacheSource(liar);
    const dest = fresh();
    await run(dest, {}, { opened: l });
    for (const d of manifestLayers(JSON.parse((await openCacheSource(dest)).texts.manifest!))) assert.equal(d.mediaType, MediaType.ociLayerGzip);
    // And a forced zstd conversion decompresses them as the gzip they are.
    const dz = fresh();
    await run(dz, { compression: 'zstd', 'force-compression': true }, { opened: l });
    assert.deepEqual(meaning(await openCacheSource(dz)), meaning(source));
  });
});

describe('export: remembered verifications', () => {
  it('a repeat copy of unchanged large blobs trusts the remembered verification (no hashing), and the copies are complete', async () => {
    const big = join(tmp, 'memo-copy');
    await generate(big, { seed: 17, layerBytes: 3_000_000, stages: 1, layersPerStage: 3 });
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of await readdir(join(big, 'blobs', 'sha256'))) await utimes(join(big, 'blobs', 'sha256', name), hourAgo, hourAgo);
    const o = await openCacheSource(big);
    const large = new Set([...o.model.descriptors.values()].filter((d) => d.size >= 1 << 20).map((d) => d.digest));
    assert.ok(large.size >= 2, 'the source needs blobs for the worker path');
    const inner = memoryVerifyMemo();
    const hits: string[] = [];
    const spy: VerifyMemo = {
      dir: null,
      async known(key, digest) {
        const yes = await inner.known(key, digest);
        if (yes) hits.push(digest);
        return yes;
      },
      remember: (key, digest, from) => inner.remember(key, digest, from),
    };
    const first = fresh();
    const r1 = await run(first, {}, { opened: o, allowLink: false, verifyMemo: spy });
    assert.deepEqual(hits, [], 'nothing is remembered before the first export');
    const second = fresh();
    const r2 = await run(second, {}, { opened: o, allowLink: false, verifyMemo: spy });
    assert.deepEqual(new Set(hits.filter((d) => large.has(d))), large, 'every large blob was copied on its remembered verification');
    assert.equal(r2.result.descriptor!.digest, r1.result.descriptor!.digest);
    assert.equal(r2.result.counts.written, new Set(o.model.norm.layers.map((l) => l.blob)).size);
    await assertBlobsComplete(second);
    // verify=true ignores what is remembered.
    hits.length = 0;
    await run(fresh(), { verify: true }, { opened: o, allowLink: false, verifyMemo: spy });
    assert.deepEqual(hits, []);
  });
});

describe('export: converted variants are remembered', () => {
  it('a second export into the same folder converts nothing', async () => {
    const dest = fresh();
    const first = await run(dest, { compression: 'zstd', 'force-compression': true, tag: 'one' });
    const unique = new Set(source.model.norm.layers.map((l) => l.blob)).size;
    assert.equal(first.result.counts.converted, unique);
    const second = await run(dest, { compression: 'zstd', 'force-compression': true, tag: 'two' });
    assert.deepEqual(second.result.counts, { written: 0, converted: 0, linked: 0, exists: unique, reused: 0 });
    assert.equal(second.result.descriptor!.digest, first.result.descriptor!.digest);
    // A different level is a different variant.
    const third = await run(dest, { compression: 'zstd', 'force-compression': true, 'compression-level': 9, tag: 'three' });
    assert.equal(third.result.counts.converted, unique);
  });

  it('variants kept next to the source are linked into a new destination instead of converted again', async () => {
    const own = join(tmp, 'own');
    await copyLayout(src, own);
    const o = await openCacheSource(own);
    // Exporting into the source folder itself leaves the zstd variants (and their labels) there.
    await run(own, { compression: 'zstd', 'force-compression': true, tag: 'zstd' }, { opened: o });
    const dest = fresh();
    const r = await run(dest, { compression: 'zstd', 'force-compression': true }, { opened: o });
    const unique = new Set(o.model.norm.layers.map((l) => l.blob)).size;
    assert.equal(r.result.counts.converted, 0);
    assert.equal(r.result.counts.reused, unique);
    assert.deepEqual(meaning(await openCacheSource(dest)), meaning(o));
  });
});

describe('export: empty result', () => {
  it('writes nothing and says `skipping cache export for empty result`', async () => {
    const margo = await openCacheSource(fixture.margo);
    const dest = fresh();
    const { result, events } = await run(dest, { 'drop-missing': true }, { opened: margo });
    assert.equal(result.skipped, true);
    assert.equal(result.descriptor, null);
    assert.equal(events.at(-1)!.text, 'skipping cache export for empty result');
    assert.equal(await exists(dest), false);
  });
});
