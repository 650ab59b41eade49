import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { createCompressor, createDecompressor, sniffCompression, zstdBackend } from '../../../electron/engine/compression';
import type { Compression } from '../../../electron/engine/compression';

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
