/**
 * Issue 8, item 3, with real CLI processes: every blob is verified before it is hard-linked or
 * copied, and a verification is remembered per file (device, inode, size, mtime, ctime) in the
 * per-user cache ($XDG_CACHE_HOME/cachescope), so an unchanged file is hashed once across exports.
 */
import assert from 'node:assert/strict';
import { open, mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES } from '../../helpers/fixtures';
import { writableCopy } from '../../helpers/layout-copy';
import { exists } from '../../unit/export/export-helpers';
import { finished, runCli } from './cli-process';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

let tmp: string;
let env: Record<string, string>;
let n = 0;
const fresh = () => join(tmp, `dest-${++n}`);

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-verify-'));
  env = { XDG_CACHE_HOME: join(tmp, 'xdg-cache') };
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A writable copy of the fixture whose blobs were last written an hour ago (older than any racy-timestamp window). */
async function sourceCopy(name: string): Promise<{ dir: string; layers: { digest: string; size: number; file: string }[] }> {
  const dir = await writableCopy(FIXTURE, join(tmp, name));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8')) as { layers: { digest: string; size: number }[] };
  const unique = new Map(manifest.layers.map((l) => [l.digest, l.size]));
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const name of await readdir(join(dir, 'blobs', 'sha256'))) await utimes(join(dir, 'blobs', 'sha256', name), hourAgo, hourAgo);
  return { dir, layers: [...unique].map(([digest, size]) => ({ digest, size, file: join(dir, 'blobs', 'sha256', digest.slice(7)) })) };
}

describe('export verifies every blob (real CLI)', () => {
  it('a layer with one flipped byte fails the hard-link export with a non-zero exit naming the blob, and nothing is published', async () => {
    const { dir, layers } = await sourceCopy('corrupt-src');
    const victim = layers[0];
    const bytes = await readFile(victim.file);
    bytes[bytes.length >> 1] ^= 0x01;
    // Replace the file (a new inode), as a damaged copy would be.
    await unlink(victim.file);
    await writeFile(victim.file, bytes);
    const dest = fresh();
    const out = await runCli(['export', dir, dest], env);
    assert.notEqual(out.code, 0, `exit 0 for a corrupt source: ${out.stdout}`);
    assert.match(out.stderr, new RegExp(`error writing layer blob: .*${victim.digest.slice(7)}: content hashes to sha256:[0-9a-f]{64}, not ${victim.digest} .*corrupt`));
    assert.equal(await exists(join(dest, 'blobs', 'sha256', victim.digest.slice(7))), false, 'the corrupt blob is not published');
    assert.equal(await exists(join(dest, 'index.json')), false, 'no index.json points at anything');
    assert.deepEqual(await readdir(join(dest, 'ingest')).catch(() => []), [], 'no staged link is left behind');
    // The same file with verify=false is the explicit opt-out: it is linked as it is.
    const optOut = await runCli(['export', dir, fresh(), '--opt', 'verify=false'], env);
    assert.equal(optOut.code, 0, optOut.stderr);
  });

  it('an unchanged file is hashed once across exports; a touch or an in-place change makes it hashed again', async () => {
    const { dir, layers } = await sourceCopy('memo-src');
    const total = layers.reduce((s, l) => s + l.size, 0);
    const bytesRead = async (dest: string, extra: string[] = []) => {
      const out = await runCli(['export', dir, dest, '--json', ...extra], env);
      assert.equal(out.code, 0, out.stderr);
      const f = finished(out);
      assert.ok(f.ok);
      return f.result;
    };
    const d1 = fresh();
    const first = await bytesRead(d1);
    assert.equal(first.counts.linked, layers.length, 'the hard-link path');
    assert.equal(first.bytesRead, total, 'the first export hashes every layer');
    assert.ok((await readdir(join(tmp, 'xdg-cache', 'cachescope', 'verified'))).length > 0, 'verifications are kept in the per-user cache');
    assert.equal((await bytesRead(fresh())).bytesRead, 0, 'a second export into a new folder hashes nothing');
    const again = await bytesRead(d1, ['--opt', 'tag=again']);
    assert.equal(again.counts.exists, layers.length);
    assert.equal(again.bytesRead, 0, 'blobs already at the destination are the same unchanged files');
    assert.equal((await bytesRead(fresh(), ['--opt', 'verify=true'])).bytesRead, total, 'verify=true hashes everything');

    // A touch (new mtime and ctime) means hashing that file again, and only that one.
    const [touched, changed] = layers;
    const earlier = new Date(Date.now() - 7_200_000);
    await utimes(touched.file, earlier, earlier);
    assert.equal((await bytesRead(fresh())).bytesRead, touched.size);
    assert.equal((await bytesRead(fresh())).bytesRead, 0);

    // Bytes changed in place with the mtime put back: only the ctime tells, and it is enough.
    const before = await stat(changed.file);
    const fh = await open(changed.file, 'r+');
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, 10);
    one[0] ^= 0x01;
    await fh.write(one, 0, 1, 10);
    await fh.close();
    await utimes(changed.file, before.atime, before.mtime);
    assert.equal((await stat(changed.file)).mtimeMs, before.mtimeMs);
    const dest = fresh();
    const out = await runCli(['export', dir, dest], env);
    assert.notEqual(out.code, 0, 'the changed file is hashed again and found corrupt');
    assert.match(out.stderr, new RegExp(`${changed.digest.slice(7)}: content hashes to`));
    assert.equal(await exists(join(dest, 'blobs', 'sha256', changed.digest.slice(7))), false);
  });
});
