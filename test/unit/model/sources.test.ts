/** Source strings (`DIR`, `DIR:tag`, `DIR@digest`, files) and the generations of a layout folder. */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { listGenerations } from '../../../electron/engine/sources/generations';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { parseSourceRef } from '../../../electron/engine/sources/source-ref';
import { fixture } from '../../helpers/fixtures';
import { cleanTempDirs, fakeDigest, sha256, tempDir, writeCacheLayout } from './layout-kit';

after(cleanTempDirs);

const DIGEST = `sha256:${'b'.repeat(64)}`;

describe('source strings', () => {
  it('DIR, DIR:tag and DIR@digest', () => {
    assert.deepEqual(parseSourceRef(fixture.dto), { path: fixture.dto, tag: null, digest: null });
    assert.deepEqual(parseSourceRef(`${fixture.dto}:v1.2_x-y`), { path: fixture.dto, tag: 'v1.2_x-y', digest: null });
    assert.deepEqual(parseSourceRef(`${fixture.dto}@${DIGEST}`), { path: fixture.dto, tag: null, digest: DIGEST });
  });

  it('a path that exists as written wins, so folder names may hold ":" and "@"', () => {
    const dir = join(tempDir(), 'cache:v2@home');
    mkdirSync(dir);
    assert.deepEqual(parseSourceRef(dir), { path: dir, tag: null, digest: null });
  });

  it('a digest attempt after "@" is checked, never turned into a path', () => {
    for (const bad of ['sha256:../../etc', 'md5:0123', `sha256:${'B'.repeat(64)}`, `sha512:${'a'.repeat(64)}`]) {
      assert.throws(() => parseSourceRef(`${fixture.dto}@${bad}`), (err: unknown) => err instanceof CacheError && err.code === 'invalid-digest', bad);
    }
  });

  it('bad tags and sources that name nothing', () => {
    assert.throws(() => parseSourceRef(`${fixture.dto}:..`), (err: unknown) => err instanceof CacheError && err.code === 'invalid-source' && err.message.includes('..'));
    assert.throws(() => parseSourceRef(`${fixture.dto}:-x`), (err: unknown) => err instanceof CacheError && err.code === 'invalid-source');
    assert.throws(() => parseSourceRef(''), (err: unknown) => err instanceof CacheError && err.code === 'invalid-source');
    assert.throws(() => parseSourceRef('/no/such/dir:tag'), (err: unknown) => err instanceof CacheError && err.code === 'not-found');
    assert.throws(() => parseSourceRef('a\0b'), (err: unknown) => err instanceof CacheError && err.code === 'invalid-source');
  });

  it('index.json itself opens its layout', async () => {
    const opened = await openCacheSource(join(fixture.margo, 'index.json'));
    assert.equal(opened.layout?.dir, fixture.margo);
    assert.equal(opened.model.norm.records.length, 26);
  });
});

describe('generations of a layout folder', () => {
  it('dto: the tagged manifest first, then the 3 orphans, newest first, with layer counts and dates', async () => {
    const gens = await listGenerations(fixture.dto);
    const index = JSON.parse(readFileSync(join(fixture.dto, 'index.json'), 'utf8'));
    assert.equal(gens.length, 4);
    // The generation's bytes: its manifest, its config and its distinct layers, read from the raw manifest.
    const manifest = JSON.parse(readFileSync(join(fixture.dto, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const distinct = new Map<string, number>([manifest.config, ...manifest.layers].map((d: { digest: string; size: number }) => [d.digest, d.size]));
    assert.deepEqual(gens[0], {
      source: `${fixture.dto}:latest`,
      digest: index.manifests[0].digest,
      size: index.manifests[0].size,
      totalBytes: index.manifests[0].size + [...distinct.values()].reduce((x, y) => x + y, 0),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      tags: ['latest'],
      orphan: false,
      createdAt: gens[0].createdAt,
      layerCount: 21,
    });
    assert.deepEqual(
      gens.slice(1).map((g) => [g.orphan, g.source.endsWith(`@${g.digest}`), g.layerCount]),
      [
        [true, true, 21],
        [true, true, 21],
        [true, true, 21],
      ],
    );
    const times = gens.slice(1).map((g) => g.createdAt!);
    assert.deepEqual([...times].sort().reverse(), times);
    // Each orphan source opens.
    for (const g of gens) assert.equal((await openCacheSource(g.source)).model.norm.layers.length, 21);
  });

  it('drone: the index form, with no mediaType in index.json', async () => {
    const gens = await listGenerations(fixture.drone);
    assert.deepEqual(
      gens.map((g) => [g.mediaType, g.tags, g.orphan, g.layerCount, g.createdAt]),
      [['application/vnd.oci.image.index.v1+json', ['latest'], false, 3, '2021-01-18T02:56:05.713954408Z']],
    );
  });

  it('a tag that cannot be written as DIR:tag is still listed; its source names the digest', async () => {
    const layout = writeCacheLayout({ config: { layers: [{ blob: fakeDigest(1), parent: -1 }], records: [{ digest: sha256('r') }] }, tag: 'has space' });
    const gens = await listGenerations(layout.dir);
    assert.deepEqual(gens.map((g) => [g.tags, g.source]), [[['has space'], `${layout.dir}@${layout.manifest.digest}`]]);
  });

  it('not a folder, or no such folder', async () => {
    await assert.rejects(listGenerations(fixture.gitlabConfig), (err: unknown) => err instanceof CacheError && err.code === 'invalid-source');
    await assert.rejects(listGenerations('/no/such/dir'), (err: unknown) => err instanceof CacheError && err.code === 'not-found');
  });
});
