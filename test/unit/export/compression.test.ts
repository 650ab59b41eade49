import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { createCompressor, createDecompressor, sniffCompression, zstdBackend } from '../../../electron/engine/export/compression';
import type { Compression } from '../../../electron/engine/export/compression';
import { previewExport, runExport } from '../../../electron/engine/export/exporter';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { verifyOpened } from '../../../electron/engine/store/verify-opened';
import { FIXTURES } from '../../helpers/fixtures';

async function through(data: Buffer, ...stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  // Feed it in small pieces: codecs must cope with any chunking.
  const chunks = Array.from({ length: Math.ceil(data.length / 7777) }, (_, i) => data.subarray(i * 7777, (i + 1) * 7777));
  await pipeline(Readable.from(chunks), ...(stages as [NodeJS.ReadWriteStream]), new Writable({ write: (c: Buffer, _e, done) => (parts.push(c), done()) }));
  return Buffer.concat(parts);
}

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-compression-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('compression module', () => {
  const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 37)}\n`).join(''));

  for (const c of ['uncompressed', 'gzip', 'zstd'] as Compression[]) {
    it(`${c}: compress then decompress gives the bytes back, and the magic bytes say ${c}`, async () => {
      const packed = await through(data, createCompressor(c, c === 'zstd' ? 9 : c === 'gzip' ? 1 : null));
      if (c !== 'uncompressed') assert.ok(packed.length < data.length / 2);
      const file = join(tmp, `x.${c}`);
      await writeFile(file, packed);
      assert.equal(await sniffCompression(file), c === 'uncompressed' ? 'uncompressed' : c);
      assert.deepEqual(await through(packed, createDecompressor(c)), data);
    });
  }

  it('reads what other writers produce: Go-style multi-member gzip, one-shot zstd', async () => {
    const twoMembers = Buffer.concat([gzipSync(data.subarray(0, 1000)), gzipSync(data.subarray(1000))]);
    assert.deepEqual(await through(twoMembers, createDecompressor('gzip')), data);
    assert.deepEqual(await through(zstdCompress(data), createDecompressor('zstd')), data);
  });

  it('fails on bytes that are not what the codec expects', async () => {
    await assert.rejects(through(Buffer.from('not gzip at all, just text'), createDecompressor('gzip')));
    await assert.rejects(through(Buffer.from('not zstd at all, just text'), createDecompressor('zstd')));
  });

  it('names the zstd implementation in use', () => {
    assert.match(zstdBackend(), /^(node:zlib|zstd-napi)$/);
  });
});

describe('compression levels BuildKit accepts', () => {
  const data = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `row ${i % 97} ${'abc'.repeat(i % 11)}\n`).join(''));

  it("gzip -2 (Go's HuffmanOnly) and -1 (DefaultCompression) write gzip that reads back", async () => {
    const huffman = await through(data, createCompressor('gzip', -2));
    const byDefault = await through(data, createCompressor('gzip', -1));
    assert.deepEqual(await through(huffman, createDecompressor('gzip')), data);
    assert.deepEqual(await through(byDefault, createDecompressor('gzip')), data);
    // Huffman coding alone finds no repeats: bigger than level 6, smaller than the input.
    assert.ok(huffman.length > byDefault.length && huffman.length < data.length, `${huffman.length} vs ${byDefault.length}`);
    assert.deepEqual(byDefault, await through(data, createCompressor('gzip', 6)));
  });

  it('a zstd level-22 export of a small cache finishes, runs level 11 and says so in the preview', async () => {
    const src = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
    const opened = await openCacheSource(src);
    const options = { compression: 'zstd', 'force-compression': true, 'compression-level': 22 } as const;
    const preview = await previewExport(opened, options);
    assert.equal(preview.error, null);
    assert.equal(preview.effectiveLevel, 11);
    assert.match(preview.levelNote ?? '', /zstd level 22 runs as level 11/);
    const dest = join(tmp, 'level-22');
    const result = await runExport({ opened, dest, options });
    assert.ok(result.counts.converted >= 1);
    const back = await openCacheSource(dest);
    assert.ok(back.model.norm.layers.length > 0);
    const report = await verifyOpened(back);
    assert.deepEqual(report.problems, []);
    assert.ok(report.checked >= result.counts.converted);
  });

  it('zstd levels outside 1..22 are accepted and previewed with what runs', async () => {
    const opened = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
    for (const [asked, runs] of [[-5, 1], [23, 11]] as const) {
      const preview = await previewExport(opened, { compression: 'zstd', 'force-compression': true, 'compression-level': asked });
      assert.equal(preview.error, null, `level ${asked}`);
      assert.equal(preview.effectiveLevel, runs);
    }
    const gzip = await previewExport(opened, { compression: 'gzip', 'force-compression': true, 'compression-level': -2 });
    assert.equal(gzip.error, null);
  });
});
