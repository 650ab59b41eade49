/**
 * Validation like BuildKit's importer: its error texts, in its order; what it only skips becomes a
 * warning; digests, sizes and bytes that disagree are refused naming the file and the field.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import type { CacheModel } from '../../../shared/cache/model';
import { toView } from '../../../shared/cache/model';
import type { CacheView } from '../../../shared/cache/view-types';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { MT, blobPath, cleanTempDirs, configModel, fakeDigest, layerDesc, sha256, tagged, tempDir, writeBlob, writeCacheLayout, writeIndex } from './layout-kit';

after(cleanTempDirs);

const FILE = 'cfg.json';
const T1 = '2026-01-01T00:00:00Z';
const T2 = '2026-01-01T00:00:01Z';
const L = [0, 1, 2, 3, 4].map((i) => fakeDigest(i));
const rec = (name: string, extra: Record<string, unknown> = {}) => ({ digest: sha256(name), ...extra });

/** A model from a config alone; `described` blobs have descriptors of 100 bytes (the rest are absent from the "manifest"). */
function model(config: unknown, described: string[] = L): CacheModel {
  return configModel(config, Object.fromEntries(described.map((d) => [d, 100])), FILE);
}

function view(config: unknown, described?: string[]): CacheView {
  return toView(model(config, described), { present: () => false, orphans: null, layout: null });
}

function fails(config: unknown, field: string, text: string, code = 'invalid-config'): void {
  assert.throws(
    () => model(config),
    (err: unknown) => {
      assert.ok(err instanceof CacheError, String(err));
      assert.equal(err.code, code, err.message);
      assert.ok(err.message.startsWith(`${FILE}: ${field}: ${text}`), `${JSON.stringify(err.message)} should start with ${JSON.stringify(`${FILE}: ${field}: ${text}`)}`);
      assert.equal(err.details?.field, field);
      return true;
    },
  );
}

const chain = [{ blob: L[0], parent: -1 }, { blob: L[1] }, { blob: L[2], parent: 1 }];

describe("BuildKit's graph checks (cache/remotecache/v1/parse.go)", () => {
  it('invalid looping record: a self link and a longer cycle', () => {
    fails({ records: [rec('a', { inputs: [[{ link: 0 }]] })] }, 'records[0].inputs[0][0].link', 'invalid looping record');
    fails(
      { records: [rec('a', { inputs: [[{ link: 1 }]] }), rec('b', { inputs: [[{ link: 2 }]] }), rec('c', { inputs: [[{ link: 3 }], [{ link: 0 }]] }), rec('d')] },
      'records[2].inputs[1][0].link',
      'invalid looping record',
    );
  });

  it('invalid record ID: %d, for links past either end', () => {
    fails({ records: [rec('a', { inputs: [[{ link: 2 }]] }), rec('b')] }, 'records[0].inputs[0][0].link', 'invalid record ID: 2');
    fails({ records: [rec('a'), rec('b', { inputs: [[{ link: 0 }, { link: -1 }]] })] }, 'records[1].inputs[0][1].link', 'invalid record ID: -1');
  });

  it('invalid empty input for record %d, for [] and null slots', () => {
    fails({ records: [rec('a'), rec('b', { inputs: [[{ link: 0 }], []] })] }, 'records[1].inputs[1]', 'invalid empty input for record 1');
    fails({ records: [rec('a'), rec('b', { inputs: [null] })] }, 'records[1].inputs[0]', 'invalid empty input for record 1');
  });

  it('invalid layer index %d: results, chains and parents on a used chain', () => {
    fails({ layers: chain, records: [rec('a', { layers: [{ layer: 3, createdAt: T1 }] })] }, 'records[0].layers[0].layer', 'invalid layer index 3');
    fails({ layers: chain, records: [rec('a', { layers: [{ layer: -1, createdAt: T1 }] })] }, 'records[0].layers[0].layer', 'invalid layer index -1');
    fails({ layers: chain, records: [rec('a', { chains: [{ layers: [0, 7], createdAt: T1 }] })] }, 'records[0].chains[0].layers[1]', 'invalid layer index 7');
    fails({ layers: [{ blob: L[0], parent: 9 }], records: [rec('a', { layers: [{ layer: 0, createdAt: T1 }] })] }, 'layers[0].parent', 'invalid layer index 9');
    fails({ layers: [{ blob: L[0], parent: -2 }], records: [rec('a', { layers: [{ layer: 0, createdAt: T1 }] })] }, 'layers[0].parent', 'invalid layer index -2');
  });

  it('invalid looping layer when a result uses the chain', () => {
    const loop = [{ blob: L[0], parent: 1 }, { blob: L[1], parent: 2 }, { blob: L[2], parent: 0 }];
    fails({ layers: loop, records: [rec('a', { layers: [{ layer: 2, createdAt: T1 }] })] }, 'records[0].layers[0]', 'invalid looping layer');
    fails({ layers: [{ blob: L[0] }], records: [rec('a', { layers: [{ layer: 0, createdAt: T1 }] })] }, 'records[0].layers[0]', 'invalid looping layer');
  });

  it('errors come in BuildKit order: depth first through links, slot by slot, results after inputs', () => {
    // records[0]'s second slot has a bad link, but its first slot leads to records[1], whose empty slot is met first.
    fails({ records: [rec('a', { inputs: [[{ link: 1 }], [{ link: 9 }]] }), rec('b', { inputs: [[]] })] }, 'records[1].inputs[0]', 'invalid empty input for record 1');
    // A bad result on records[1] is found while records[0] is being parsed, before records[0]'s own bad result.
    fails(
      { layers: chain, records: [rec('a', { layers: [{ layer: 8, createdAt: T1 }], inputs: [[{ link: 1 }]] }), rec('b', { layers: [{ layer: 5, createdAt: T1 }] })] },
      'records[1].layers[0].layer',
      'invalid layer index 5',
    );
  });

  it('unused looping or dangling layer entries do not fail the import; they are detached, flagged and warned about', () => {
    const v = view({ layers: [{ blob: L[0], parent: -1 }, { blob: L[1], parent: 2 }, { blob: L[2], parent: 1 }, { blob: L[3], parent: 40 }], records: [rec('a', { layers: [{ layer: 0, createdAt: T1 }] })] });
    assert.deepEqual(v.chain.detached, [1, 2, 3]);
    assert.deepEqual(v.chain.roots, [0]);
    assert.deepEqual(v.layers.map((l) => l.problem === null), [true, false, false, false]);
    assert.match(v.layers[1].problem!, /^invalid looping layer/);
    assert.match(v.layers[3].problem!, /^invalid layer index 40/);
    assert.deepEqual(v.warnings.map((w) => w.code), ['invalid-layer-chain']);
    assert.deepEqual(v.records[0].stack, [0]);
  });

  it('a loop behind a blob absent from the manifest: BuildKit stops at the absent blob and drops the result, no error', () => {
    const v = view({ layers: [{ blob: L[0], parent: 1 }, { blob: L[1], parent: 0 }], records: [rec('a', { layers: [{ layer: 0, createdAt: T1 }] })] }, [L[1]]);
    assert.match(v.records[0].droppedResult!, new RegExp(L[0]));
    assert.deepEqual(v.records[0].stack, []);
    assert.equal(v.records[0].resultSize, 0);
  });

  it('random: records are ignored by BuildKit, and so are the records that link to them', () => {
    const v = view({ records: [rec('a'), { digest: 'random:1234' }, rec('c', { inputs: [[{ link: 0 }, { link: 1 }]] }), rec('d', { inputs: [[{ link: 0 }]] })] });
    assert.deepEqual(v.records.map((r) => r.ignored), [false, true, true, false]);
    assert.ok(v.warnings.some((w) => w.code === 'ignored-records' && w.message.includes('records[1], records[2]')));
  });
});

describe('blobs absent from the manifest: results dropped, shown, warned about', () => {
  it('a result whose chain has an undescribed blob is dropped: droppedResult set, resultSize 0, the stack still shown', () => {
    const v = view({ layers: chain, records: [rec('a', { layers: [{ layer: 2, createdAt: T1 }] }), rec('b', { layers: [{ layer: 0, createdAt: T1 }] })] }, [L[0], L[2]]);
    assert.equal(v.records[0].droppedResult, `blob ${L[1]} is not among the manifest's descriptors; BuildKit skips this result`);
    assert.deepEqual(v.records[0].stack, [0, 1, 2]);
    assert.equal(v.records[0].resultSize, 0);
    assert.equal(v.records[1].droppedResult, null);
    assert.equal(v.records[1].resultSize, 100);
    const w = v.warnings.find((x) => x.code === 'results-dropped');
    assert.ok(w && w.message.startsWith('1 result(s)') && w.message.includes('records[0]'), w?.message);
  });

  it("BuildKit's best result is the newest usable one: a newer dropped result leaves the older one in place", () => {
    const v = view({ layers: chain, records: [rec('a', { layers: [{ layer: 2, createdAt: T2 }, { layer: 0, createdAt: T1 }] })] }, [L[0]]);
    assert.deepEqual(v.records[0].shownResult, { kind: 'layers', index: 1 });
    assert.deepEqual(v.records[0].stack, [0]);
    assert.equal(v.records[0].droppedResult, null);
    assert.ok(v.warnings.some((x) => x.code === 'results-dropped' && x.message.startsWith('1 result(s)')));
  });

  it('the newest of results and chains wins, first on ties; times compare as instants, not strings', () => {
    const v = view({
      layers: chain,
      records: [
        rec('a', { layers: [{ layer: 0, createdAt: '2026-01-01T00:00:00.9Z' }], chains: [{ layers: [0, 2], createdAt: '2026-01-01T00:00:00.10Z' }] }),
        rec('b', { layers: [{ layer: 0, createdAt: T1 }], chains: [{ layers: [2], createdAt: '2026-01-01T01:00:00+01:00' }] }),
      ],
    });
    assert.deepEqual(v.records[0].shownResult, { kind: 'layers', index: 0 }, '.9 s is later than .10 s');
    assert.deepEqual(v.records[1].shownResult, { kind: 'layers', index: 0 }, 'the same instant: the first wins');
  });
});

describe('types, digests and times: refused naming file and field', () => {
  it('wrong types and numbers that are not safe integers', () => {
    fails({ layers: 'x' }, 'layers', 'expected an array, got string');
    fails({ layers: [{ blob: L[0], parent: 1e300 }] }, 'layers[0].parent', 'expected an integer, got 1e+300');
    fails({ layers: [{ blob: L[0], parent: 2 ** 63 }] }, 'layers[0].parent', 'expected an integer, got 9223372036854776000');
    fails({ layers: [{ blob: L[0], parent: '1' }] }, 'layers[0].parent', 'expected an integer, got string');
    fails({ records: [rec('a', { inputs: [[{ link: 0.5 }]] })] }, 'records[0].inputs[0][0].link', 'expected an integer, got 0.5');
    fails({ records: [rec('a', { inputs: [{ link: 0 }] })] }, 'records[0].inputs[0]', 'expected an array, got object');
    fails({ records: [rec('a', { layers: [{ layer: 0, createdAt: 'yesterday' }] })] }, 'records[0].layers[0].createdAt', 'invalid time "yesterday"');
    fails({ records: [rec('a', { layers: [{ layer: 0, createdAt: '2026-02-30T00:00:00Z' }] })] }, 'records[0].layers[0].createdAt', 'invalid time');
  });

  it("digests must be algorithm:hex of the right length, lowercase, with no '..' or separators", () => {
    const bad: [string, string][] = [
      [`sha256:${'A'.repeat(64)}`, 'characters other than lowercase hex'],
      [`sha256:${'a'.repeat(63)}`, 'must have 64 hex characters, got 63'],
      [`sha256:${'a'.repeat(128)}`, 'must have 64 hex characters, got 128'],
      [`sha512:${'a'.repeat(64)}`, 'must have 128 hex characters, got 64'],
      ['sha256:../../../../etc/passwd', 'must have 64 hex characters'],
      [`sha256:${'a'.repeat(31)}/${'a'.repeat(32)}`, 'characters other than lowercase hex'],
      [`sha256:${'a'.repeat(30)}..${'a'.repeat(32)}`, 'characters other than lowercase hex'],
      [`md5:${'a'.repeat(32)}`, 'unsupported digest algorithm "md5"'],
      ['no-colon', 'expected "algorithm:hex"'],
    ];
    for (const [digest, text] of bad) {
      assert.throws(
        () => model({ layers: [{ blob: digest, parent: -1 }] }),
        (err: unknown) => err instanceof CacheError && err.code === 'invalid-digest' && err.message.startsWith(`${FILE}: layers[0].blob: `) && err.message.includes(text),
        digest,
      );
    }
    assert.equal(model({ layers: [{ blob: `sha512:${'a'.repeat(128)}`, parent: -1 }] }).norm.layers.length, 1, 'sha512 is fine');
    fails({ records: [{ digest: 'sha256:short' }] }, 'records[0].digest', 'sha256 digest must have 64 hex characters, got 5', 'invalid-digest');
  });
});

describe('files that disagree with their descriptors', () => {
  const config = { layers: [{ blob: L[0], parent: -1 }], records: [rec('a', { layers: [{ layer: 0, createdAt: T1 }] })] };

  async function rejects(source: string, code: string, ...parts: string[]): Promise<void> {
    await assert.rejects(openCacheSource(source), (err: unknown) => {
      assert.ok(err instanceof CacheError, String(err));
      assert.equal(err.code, code, err.message);
      for (const p of parts) assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} should include ${JSON.stringify(p)}`);
      return true;
    });
  }

  it('descriptor size vs file size: size-mismatch naming the blob and the descriptor field', async () => {
    const layout = writeCacheLayout({ config });
    writeIndex(layout.dir, [tagged({ ...layout.manifest, size: layout.manifest.size + 1 })]);
    await rejects(layout.dir, 'size-mismatch', blobPath(layout.dir, layout.manifest.digest), 'index.json: manifests[0].size', `says ${layout.manifest.size + 1}`);
    const other = writeCacheLayout({ config });
    const body = JSON.parse(readFileSync(blobPath(other.dir, other.manifest.digest), 'utf8'));
    body.config.size -= 1;
    const manifest = writeBlob(other.dir, JSON.stringify(body), MT.ociManifest);
    writeIndex(other.dir, [tagged(manifest)]);
    await rejects(other.dir, 'size-mismatch', blobPath(other.dir, other.config.digest), `${blobPath(other.dir, manifest.digest)}: config.size`);
  });

  it('bytes that do not hash to the name: digest-mismatch', async () => {
    const layout = writeCacheLayout({ config });
    const file = blobPath(layout.dir, layout.config.digest);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('"parent":-1', '"parent":-2'));
    await rejects(layout.dir, 'digest-mismatch', file, layout.config.digest, 'cache config');
  });

  it('a descriptor digest that is not a digest, inside a manifest', async () => {
    const dir = tempDir();
    const cfg = writeBlob(dir, JSON.stringify(config), MT.cacheConfig);
    const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: cfg, layers: [layerDesc('sha256:../../x', 1)] }));
    writeIndex(dir, [tagged(manifest)]);
    await rejects(dir, 'invalid-digest', `${blobPath(dir, manifest.digest)}: layers[0].digest`);
  });

  it("manifests and configs over 1 MiB: warning 'import-limit' with BuildKit's `blob %s is too large (%d > %d)`", async () => {
    const records = Array.from({ length: 9000 }, (_, i) => rec(`r${i}`, { inputs: i > 0 ? [[{ link: i - 1, selector: sha256(`sel ${i}`) }]] : undefined }));
    const big = { layers: [{ blob: L[0], parent: -1 }], records };
    const layout = writeCacheLayout({ config: big, layers: Array.from({ length: 6000 }, () => layerDesc(L[0], 100, MT.ociGzip, { 'buildkit/createdat': T1, 'containerd.io/uncompressed': sha256('x') })) });
    assert.ok(layout.config.size > 1 << 20 && layout.manifest.size > 1 << 20, 'both are over the limit');
    const v = await viewOf(await openCacheSource(layout.dir));
    const limit = v.warnings.filter((w) => w.code === 'import-limit');
    assert.deepEqual(
      limit.map((w) => w.message.slice(0, w.message.indexOf(':', 80))),
      [`blob ${layout.manifest.digest} is too large (${layout.manifest.size} > 1048576)`, `blob ${layout.config.digest} is too large (${layout.config.size} > 1048576)`],
    );
  });
});
