/**
 * Listing layer tars made here with GNU tar, gzip, zstd and tar-stream: whiteouts and opaque
 * directories, hard links and symlinks, long names (PAX and GNU), hostile names, a tar bomb, every
 * compression, cancellation, and the per-user listing cache.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, link, writeFile, chmod, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listLayerFile } from '../../../electron/engine/contents/read-layer';
import type { LayerEntry } from '../../../electron/engine/contents/layer-entry';
import { chainWaste, layerChanges, squash } from '../../../electron/engine/contents/chain-tree';
import { openListingCache } from '../../../electron/engine/contents/listing-cache';
import { openLayer } from '../../../electron/engine/contents/open-layer';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { CacheError } from '../../../shared/contract/errors';
import { FIXTURES } from '../../helpers/fixtures';
import { compressWith, gnuTar, packTar } from './layer-tars';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-contents-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const byPath = (entries: LayerEntry[]) => new Map(entries.map((e) => [e.path, e]));

async function tree(name: string, files: Record<string, string | null>): Promise<string> {
  const dir = join(tmp, name);
  for (const [p, body] of Object.entries(files)) {
    await mkdir(join(dir, p, body === null ? '' : '..'), { recursive: true });
    if (body !== null) await writeFile(join(dir, p), body);
  }
  return dir;
}

describe('listing a layer tar', () => {
  it('lists GNU tar entries with type, size, mode, owner, mtime, the same through gzip, zstd and none', async () => {
    const dir = await tree('plain', { 'app/src/index.ts': 'export {};\n', 'app/package.json': '{"name":"x"}\n', 'etc/': null });
    await chmod(join(dir, 'app/src/index.ts'), 0o640);
    const tar = join(tmp, 'plain.tar');
    gnuTar(dir, tar, ['app', 'etc']);
    const plain = await listLayerFile(tar);
    assert.equal(plain.compression, 'uncompressed');
    const e = byPath(plain.entries).get('app/src/index.ts')!;
    assert.deepEqual({ type: e.type, size: e.size, mode: e.mode & 0o777, uid: e.uid, gid: e.gid, mtime: e.mtime }, { type: 'file', size: 11, mode: 0o640, uid: 0, gid: 0, mtime: 1700000000 });
    assert.equal(byPath(plain.entries).get('etc')!.type, 'dir');
    assert.deepEqual(plain.entries.map((x) => x.path), ['app', 'app/package.json', 'app/src', 'app/src/index.ts', 'etc']);
    const gz = await listLayerFile(compressWith('gzip', tar));
    const zst = await listLayerFile(compressWith('zstd', tar));
    assert.equal(gz.compression, 'gzip');
    assert.equal(zst.compression, 'zstd');
    assert.deepEqual(gz.entries, plain.entries);
    assert.deepEqual(zst.entries, plain.entries);
    // The diffID is the sha256 of the tar, whatever carried it.
    assert.equal(gz.diffID, plain.diffID);
    assert.equal(zst.diffID, plain.diffID);
  });

  it('reads whiteouts and opaque directories as the OCI layer spec says, and squashes them', async () => {
    const lower = await tree('wh-lower', { 'etc/keep': 'k', 'etc/gone': 'gone!', 'var/cache/a': 'aaaa', 'var/cache/b': 'bb', 'opt/old/x': 'x' });
    const upper = await tree('wh-upper', { 'etc/.wh.gone': '', 'var/cache/.wh..wh..opq': '', 'var/cache/new': 'n', 'opt/.wh.old': '' });
    gnuTar(lower, join(tmp, 'lower.tar'), ['etc', 'var', 'opt']);
    gnuTar(upper, join(tmp, 'upper.tar'), ['etc', 'var', 'opt']);
    const a = (await listLayerFile(join(tmp, 'lower.tar'))).entries;
    const b = (await listLayerFile(join(tmp, 'upper.tar'))).entries;
    const wh = byPath(b.filter((e) => e.whiteout));
    assert.equal(wh.get('etc/gone')?.whiteout, 'file');
    assert.equal(wh.get('etc/gone')?.raw, 'etc/.wh.gone');
    assert.equal(wh.get('var/cache')?.whiteout, 'opaque');
    assert.equal(wh.get('opt/old')?.whiteout, 'file');
    const squashed = squash([a, b]);
    assert.deepEqual([...squashed.keys()].filter((p) => squashed.get(p)!.entry.type === 'file').sort(), ['etc/keep', 'var/cache/new']);
    assert.ok(squashed.has('var/cache'), 'an opaque directory itself stays');
    assert.ok(!squashed.has('opt/old'), 'a whiteout removes a directory');
    const changes = layerChanges([a, b], 1);
    const kinds = Object.fromEntries(changes.map((c) => [c.path, c.kind]));
    assert.equal(kinds['etc/gone'], 'removed');
    assert.equal(kinds['var/cache/a'], 'removed');
    assert.equal(kinds['var/cache/b'], 'removed');
    assert.equal(kinds['opt/old/x'], 'removed');
    assert.equal(kinds['var/cache/new'], 'added');
    assert.equal(kinds['etc/keep'], undefined, 'untouched files are no change');
  });

  it('lists hard links and symlinks with their targets', async () => {
    const dir = await tree('links', { 'bin/busybox': 'ELF...' });
    await symlink('busybox', join(dir, 'bin/sh'));
    await link(join(dir, 'bin/busybox'), join(dir, 'bin/ls'));
    gnuTar(dir, join(tmp, 'links.tar'), ['bin']);
    const m = byPath((await listLayerFile(join(tmp, 'links.tar'))).entries);
    assert.deepEqual({ type: m.get('bin/sh')!.type, link: m.get('bin/sh')!.link }, { type: 'symlink', link: 'busybox' });
    // GNU tar stores the first name as the file and later names as links to it (sorted by name: busybox first).
    assert.equal(m.get('bin/busybox')!.type, 'file');
    assert.deepEqual({ type: m.get('bin/ls')!.type, link: m.get('bin/ls')!.link, size: m.get('bin/ls')!.size }, { type: 'hardlink', link: 'bin/busybox', size: 0 });
  });

  it('reads PAX and GNU long names and long link targets', async () => {
    const long = `${'deep/'.repeat(40)}file-with-a-long-name.txt`;
    const dir = await tree('long', { [long]: 'long' });
    await symlink(long, join(dir, 'link-to-long'));
    gnuTar(dir, join(tmp, 'pax.tar'), ['deep', 'link-to-long'], ['--format=pax']);
    gnuTar(dir, join(tmp, 'gnu.tar'), ['deep', 'link-to-long'], ['--format=gnu']);
    for (const f of ['pax.tar', 'gnu.tar']) {
      const m = byPath((await listLayerFile(join(tmp, f))).entries);
      assert.equal(m.get(long)?.size, 4, `${f}: the long name`);
      assert.equal(m.get('link-to-long')?.link, long, `${f}: the long link target`);
    }
  });

  it('shows hostile names as they are, confined and flagged, with duplicates, and never extracts', async () => {
    const file = join(tmp, 'hostile.tar');
    const now = new Date(1700000000000);
    await packTar(file, [
      { header: { name: '/etc/passwd', size: 4, mtime: now }, body: 'root' },
      { header: { name: '../../../escape.txt', size: 1, mtime: now }, body: 'x' },
      { header: { name: 'dup.txt', size: 1, mtime: now }, body: '1' },
      { header: { name: 'dup.txt', size: 2, mtime: now }, body: '22' },
      { header: { name: 'evil', type: 'symlink', linkname: '/etc/shadow', mtime: now } },
    ]);
    const before = await readdir(tmp);
    const { entries } = await listLayerFile(file);
    assert.deepEqual(await readdir(tmp), before, 'nothing was written');
    assert.deepEqual(
      entries.map((e) => [e.path, e.raw ?? null, e.warning ?? null]),
      [
        ['etc/passwd', '/etc/passwd', 'absolute path'],
        ['escape.txt', '../../../escape.txt', 'has ".." components'],
        ['dup.txt', null, null],
        ['dup.txt', null, null],
        ['evil', null, null],
      ],
    );
    assert.equal(entries[4].link, '/etc/shadow');
    // The later duplicate wins in the tree, and the earlier copy counts as duplicated bytes.
    assert.equal(squash([entries]).get('dup.txt')!.entry.size, 2);
    assert.equal(chainWaste([entries]).hidden.duplicates, 1);
  });

  it('escapes names that are not UTF-8 and keeps UTF-8 ones', async () => {
    const dir = join(tmp, 'bytes');
    await mkdir(dir);
    // Latin-1 "café" (0xe9 alone is not UTF-8) and a real UTF-8 name.
    await writeFile(Buffer.from(`${dir}/caf\xe9.txt`, 'latin1'), 'x');
    await writeFile(join(dir, 'naïve.txt'), 'y');
    gnuTar(dir, join(tmp, 'bytes.tar'), ['.']);
    const { entries } = await listLayerFile(join(tmp, 'bytes.tar'));
    const names = entries.map((e) => e.path);
    assert.ok(names.includes('caf\\xe9.txt'), names.join(' '));
    assert.ok(names.includes('naïve.txt'), names.join(' '));
    assert.match(entries.find((e) => e.path === 'caf\\xe9.txt')!.warning!, /not UTF-8/);
    assert.equal(entries.find((e) => e.path === 'naïve.txt')!.warning, undefined);
  });

  it('caps a tar bomb with a clear message and keeps counting', async () => {
    const file = join(tmp, 'bomb.tar.gz');
    const n = 30_000;
    const mtime = new Date(0);
    await packTar(file, (function* () {
      for (let i = 0; i < n; i++) yield { header: { name: `f/${i}`, size: 0, mtime } };
    })(), true);
    const listing = await listLayerFile(file, { maxEntries: 1000 });
    assert.equal(listing.entries.length, 1000);
    assert.equal(listing.entryCount, n);
    assert.equal(listing.truncated, true);
    assert.deepEqual(listing.notes, ['showing the first 1,000 of 30,000 entries (the listing is capped at 1,000)']);
  });

  it('is cancellable and reports progress', async () => {
    const file = join(tmp, 'bomb.tar.gz');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(listLayerFile(file, { signal: controller.signal }), (err: Error) => err.name === 'AbortError' || (err as CacheError).code === 'cancelled');
    const c2 = new AbortController();
    const seen: number[] = [];
    const p = listLayerFile(file, {
      signal: c2.signal,
      onProgress: (x) => {
        seen.push(x.bytes);
      },
    });
    // Abort as soon as the read starts: the promise rejects as cancelled, it does not hang.
    setImmediate(() => c2.abort());
    await assert.rejects(p, (err: CacheError) => err.code === 'cancelled');
    const done = await listLayerFile(file, { onProgress: (x) => seen.push(x.total - x.bytes) });
    assert.equal(seen.at(-1), 0, 'the last progress event is complete');
    assert.ok(done.compressedBytes > 0);
  });

  it('lists every tar above exactly as tar-stream does (the reference the header reader replaced)', async () => {
    const files = (await readdir(tmp)).filter((f) => /\.(tar|gz|zst)$/.test(f));
    assert.ok(files.length >= 10, files.join(' '));
    for (const f of files) {
      const own = await listLayerFile(join(tmp, f));
      const ref = await listLayerFile(join(tmp, f), { parser: 'tar-stream' });
      assert.deepEqual(own, ref, f);
    }
    const estargz = join(FIXTURES, 'buildkit-v0.24-estargz', 'blobs', 'sha256');
    for (const f of await readdir(estargz)) {
      const own = await listLayerFile(join(estargz, f)).catch((err: Error) => err.message);
      if (typeof own === 'string') continue; // the JSON blobs
      assert.deepEqual(own, await listLayerFile(join(estargz, f), { parser: 'tar-stream' }), f);
    }
  });

  it('refuses a truncated tar, naming the file', async () => {
    const whole = await readFile(join(tmp, 'plain.tar'));
    const cut = join(tmp, 'cut.bin');
    await writeFile(cut, whole.subarray(0, 700));
    await assert.rejects(listLayerFile(cut), (err: CacheError) => err.code === 'invalid-source' && err.message.includes(cut) && /unexpected end/.test(err.message));
  });

  it('refuses a blob that is not a tar, naming the file', async () => {
    const file = join(tmp, 'junk.gz');
    await writeFile(file, Buffer.from('1f8b08', 'hex'));
    await assert.rejects(listLayerFile(file), (err: CacheError) => err.code === 'invalid-source' && err.message.includes(file));
  });
});

describe('the listing cache', () => {
  it('reopens a layer from the cache by diffID, without reading the blob', async () => {
    const fixture = join(FIXTURES, 'buildkit-v0.24-index-gzip');
    const opened = await openCacheSource(fixture);
    const cache = openListingCache(join(tmp, 'listings'));
    const digest = opened.model.norm.layers[0].blob;
    const first = await openLayer(opened, digest, { cache });
    assert.equal(first.outcome, 'read');
    // A source whose blobs are all gone still opens the layer: from the cache.
    const gone = { model: opened.model, blobs: { ...opened.blobs, get: () => Promise.reject(new CacheError('missing-blob', 'gone')) } };
    const second = await openLayer(gone, digest, { cache });
    assert.equal(second.outcome, 'cached');
    assert.deepEqual(second.listing.entries, first.listing.entries);
    await assert.rejects(openLayer(gone, digest, { cache: null }), (err: CacheError) => err.code === 'missing-blob');
  });
});
