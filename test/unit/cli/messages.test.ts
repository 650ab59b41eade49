/**
 * Messages a user meets at the command line, through the real CLI process: a digest that is not a
 * manifest, a number beyond 2^53, and `serve` on a path that does not exist.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES } from '../../helpers/fixtures';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { putBlob, writableCopy } from '../../helpers/layout-copy';
import { runCli } from '../../helpers/run-cli';
import type { CliRun } from '../../helpers/run-cli';

const MIXED = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
const CONFIG = 'sha256:ccda1e8f45c6c2e1fdafdccd4af9bf77add0772093a9eb24227de09e0b8dd4c2';
const GZIP_LAYER = 'sha256:f447f02550335fa9d34922fc0254d88a1e2f9f96e1a4ea977e82ce7074b7d7a1';

function cli(...args: string[]): Promise<CliRun> {
  return runCli(args, { timeout: 60_000 });
}

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-messages-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('CLI messages', () => {
  it('DIR@<the cache config digest> says it is not a manifest but the cache config, and where it is referenced', async () => {
    const r = await cli('inspect', `${MIXED}@${CONFIG}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${CONFIG} is not a manifest: it is the cache config of the manifest tagged "latest" .*field config`));
  });

  it('DIR@<a layer digest> says it is not a manifest but a layer', async () => {
    const r = await cli('inspect', `${MIXED}@${GZIP_LAYER}`, '--json');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a manifest: it is a layer of the manifest tagged "latest" .*field layers\[\d\]/);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'invalid-source');
  });

  it('a layer nothing lists is recognised by its bytes', async () => {
    const dir = await writableCopy(MIXED, join(tmp, 'unlisted'));
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    const r = await cli('inspect', `${dir}@${GZIP_LAYER}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a manifest: its bytes are gzip-compressed data/);
  });

  it('a manifest listed by an image index is still opened by its digest (only configs and layers are refused)', async () => {
    const dir = await writableCopy(MIXED, join(tmp, 'platforms'));
    const manifest = 'sha256:d14566f91d2ccd8a0a18762f42f934deddf8dba7e12c463131779b760d6fbe17';
    const imageIndex = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest, size: 2537, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    const top = await putBlob(dir, imageIndex);
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: top, size: imageIndex.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
    );
    const opened = await openCacheSource(`${dir}@${manifest}`);
    assert.ok(opened.model.norm.layers.length > 0);
    await assert.rejects(openCacheSource(`${dir}@${CONFIG}`), /is not a manifest: its bytes are a cache config/);
  });

  it('a size beyond 2^53 in index.json is quoted with the digits the file has', async () => {
    const dir = await writableCopy(MIXED, join(tmp, 'big-size'));
    const file = join(dir, 'index.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/"size":2537/, '"size":9007199254740993'));
    const r = await cli('inspect', dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /manifests\[0\]\.size: expected an integer >= 0, got 9007199254740993|manifests\[0\]\.size: expected an integer, got 9007199254740993/);
  });

  it('serve on a path that does not exist refuses to start: exit 1, one line, no URL', async () => {
    const r = await cli('serve', join(tmp, 'nonexistent'));
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr.trim(), new RegExp(`^cachescope serve: ${join(tmp, 'nonexistent')}: no such file or directory(;[^\n]*)?$`));
  });
});
