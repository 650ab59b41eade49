/**
 * Layer conversion on image export (BuildKit's compression, compression-level, force-compression,
 * oci-mediatypes): converted layers get the new compression's bytes and media type, the diff_ids stay
 * those of the uncompressed tars, and real peers accept the result: umoci unpacks it and runc runs it
 * (zstd layers go through skopeo first where umoci 0.4.7 cannot read zstd, named below), skopeo reads
 * the config, oci-image-tool validates the layout. Without force-compression nothing is converted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { REPO } from '../../helpers/fixtures';
import { EXPECTED_OUTPUT, writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, CACHESCOPE_CLI: 'source' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', text: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

function cli(source: string, args: string[]) {
  const r = run(process.execPath, [CLI, 'image', source, ...args, '--json']);
  assert.equal(r.status, 0, `cachescope image ${args.join(' ')}: ${r.text}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return { result: lines[lines.length - 1], stderr: r.stderr };
}

/** The image manifest a layout tag points at, and its config. */
async function readImage(dir: string, tag: string) {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const blob = (d: string) => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
  const manifest = JSON.parse((await blob(entry.digest)).toString());
  const config = JSON.parse((await blob(manifest.config.digest)).toString());
  return { manifest, config, blob };
}

async function head(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b;
  } finally {
    await fh.close();
  }
}

/** umoci unpack + runc run (as root); returns the container's stdout. */
async function unpackAndRun(image: string, bundle: string, id: string): Promise<string> {
  const u = run('umoci', ['unpack', '--image', image, bundle]);
  assert.equal(u.status, 0, `umoci unpack ${image} refused: ${u.text}`);
  const cfgFile = join(bundle, 'config.json');
  const cfg = JSON.parse(await readFile(cfgFile, 'utf8'));
  cfg.process.terminal = false;
  await writeFile(cfgFile, JSON.stringify(cfg));
  const r = run('runc', ['run', '-b', bundle, id]);
  assert.equal(r.status, 0, `runc run refused: ${r.text}`);
  return r.stdout;
}

let tmp: string;
let bb: BusyboxCache;
let configFile: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-convert-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  configFile = join(tmp, 'config.json');
  await writeFile(configFile, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'] } }));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image --opt compression=…,force-compression=true', () => {
  it('gzip → uncompressed: plain tar layers, same diff_ids; oci-image-tool validates it, umoci unpacks it and runc runs it', async (t) => {
    const dest = join(tmp, 'plain');
    const { result } = cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:p`, '--config', configFile, '--opt', 'compression=uncompressed', '--opt', 'force-compression=true']);
    const img = await readImage(dest, 'p');
    assert.deepEqual(img.manifest.layers.map((l: { mediaType: string }) => l.mediaType), [OCI_TAR, OCI_TAR, OCI_TAR]);
    assert.deepEqual(img.config.rootfs.diff_ids, bb.diffIDs);
    // An uncompressed layer's digest is its diffID, and its bytes are the original tar.
    assert.deepEqual(img.manifest.layers.map((l: { digest: string }) => l.digest), bb.diffIDs);
    assert.deepEqual(await img.blob(bb.diffIDs[1]), Buffer.from(bb.tars[1]));
    assert.deepEqual(result.layers.map((l: { converted: boolean }) => l.converted), [true, true, true]);
    const v = run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=p', dest]);
    assert.ok(v.status === 0 && /Validation succeeded/.test(v.text), `oci-image-tool: ${v.text}`);
    if (process.getuid?.() !== 0) return t.skip('runc needs root: not running as root (named, not silent)');
    assert.equal(await unpackAndRun(`${dest}:p`, join(tmp, 'bundle-plain'), `cachescope-conv-${process.pid}-1`), EXPECTED_OUTPUT);
  });

  it('gzip → zstd: zstd bytes and media types, same diff_ids; skopeo reads and recompresses it, and the copy runs', async (t) => {
    const dest = join(tmp, 'zstd');
    const { result } = cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:z`, '--config', configFile, '--opt', 'compression=zstd', '--opt', 'force-compression=true', '--opt', 'compression-level=9']);
    const img = await readImage(dest, 'z');
    assert.deepEqual(img.manifest.layers.map((l: { mediaType: string }) => l.mediaType), [OCI_ZSTD, OCI_ZSTD, OCI_ZSTD]);
    assert.deepEqual(img.config.rootfs.diff_ids, bb.diffIDs);
    for (const l of img.manifest.layers) assert.deepEqual([...(await head(join(dest, 'blobs', 'sha256', l.digest.slice(7))))], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.equal(result['containerimage.digest'], JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')).manifests[0].digest);
    // zstd -d of each layer gives back the very tar whose hash is the diffID.
    for (const [k, l] of img.manifest.layers.entries()) {
      const d = spawnSync('zstd', ['-dc', join(dest, 'blobs', 'sha256', l.digest.slice(7))], { maxBuffer: 64 << 20 });
      assert.equal(d.status, 0);
      assert.deepEqual(d.stdout, Buffer.from(bb.tars[k]), `layer ${k}`);
    }
    // oci-image-tool (Debian's, image-spec 1.0) predates +zstd layers: its one complaint must be that media type.
    const v = run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=z', dest]);
    if (v.status !== 0) assert.match(v.text, /1 errors detected: .*layer validation failed: invalid descriptor MediaType \\"application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd\\""/, `oci-image-tool: ${v.text}`);
    const inspected = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${dest}:z`]).stdout);
    assert.deepEqual(inspected.layers.map((l: { mediaType: string }) => l.mediaType), [OCI_ZSTD, OCI_ZSTD, OCI_ZSTD]);
    // skopeo decompresses our zstd layers to recompress them as gzip; the copy keeps our diff_ids.
    const copied = join(tmp, 'zstd-copied');
    const c = run('skopeo', ['copy', '--dest-compress-format', 'gzip', `oci:${dest}:z`, `oci:${copied}:x`]);
    assert.equal(c.status, 0, c.text);
    assert.deepEqual(JSON.parse(run('skopeo', ['inspect', '--config', `oci:${copied}:x`]).stdout).rootfs.diff_ids, bb.diffIDs);
    if (process.getuid?.() !== 0) return t.skip('runc needs root: not running as root (named, not silent)');
    // umoci 0.4.7 (Debian) reads no zstd layers, so it unpacks skopeo's copy of our image.
    const direct = run('umoci', ['unpack', '--image', `${dest}:z`, join(tmp, 'bundle-zstd-direct')]);
    if (direct.status !== 0) assert.match(direct.text, /zstd|unsupported|media ?type/i, `umoci refused for another reason: ${direct.text}`);
    assert.equal(await unpackAndRun(`${copied}:x`, join(tmp, 'bundle-zstd'), `cachescope-conv-${process.pid}-2`), EXPECTED_OUTPUT);
  });

  it('docker-archive and Docker media types convert too; the tar holds the zstd layers and skopeo reads the diff_ids', async () => {
    const dest = join(tmp, 'docker-zstd');
    cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:d`, '--opt', 'oci-mediatypes=false', '--opt', 'compression=zstd', '--opt', 'force-compression']);
    const entry = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')).manifests[0];
    const raw = JSON.parse(await readFile(join(dest, 'blobs', 'sha256', entry.digest.slice(7)), 'utf8'));
    assert.deepEqual(raw.layers.map((l: { mediaType: string }) => l.mediaType), Array(3).fill('application/vnd.docker.image.rootfs.diff.tar.zstd'));

    const file = join(tmp, 'conv.tar');
    const { result } = cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `docker-archive:${file}`, '--opt', 'compression=zstd', '--opt', 'force-compression=true', '--name', 'conv']);
    assert.deepEqual(JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${file}`]).stdout).rootfs.diff_ids, bb.diffIDs);
    const manifest = JSON.parse(run('tar', ['xOf', file, 'manifest.json']).stdout);
    const layer0 = spawnSync('tar', ['xOf', file, manifest[0].Layers[0]], { maxBuffer: 64 << 20 }).stdout as Buffer;
    assert.deepEqual([...layer0.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.deepEqual(result.diffIDs, bb.diffIDs);
    // The staging store of converted layers is gone: only the archive is left beside it.
    assert.deepEqual(run('ls', ['-A', tmp]).stdout.split('\n').filter((n) => n.startsWith('.cachescope-image-')), []);
  });

  it('without force-compression layers keep their compression (compression alone converts nothing, as in BuildKit)', async () => {
    const dest = join(tmp, 'kept');
    const { result } = cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:k`, '--opt', 'compression=zstd']);
    const img = await readImage(dest, 'k');
    const opened = await openCacheSource(bb.dir);
    const chain = opened.model.graph.resolutions[bb.resultRecord].stack.map((i) => opened.model.norm.layers[i].blob);
    assert.deepEqual(img.manifest.layers.map((l: { digest: string }) => l.digest), chain);
    assert.deepEqual(img.manifest.layers.map((l: { mediaType: string }) => l.mediaType), [OCI_GZIP, OCI_GZIP, OCI_GZIP]);
    assert.deepEqual(result.layers.map((l: { converted: boolean }) => l.converted), [false, false, false]);
    // force-compression to the compression the layers already have converts nothing either.
    const same = cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:g`, '--opt', 'compression=gzip', '--opt', 'force-compression=true']).result;
    assert.equal(same['containerimage.digest'], result['containerimage.digest']);
  });

  it('--inline-cache with converted layers: the image reads back as a cache whose result is the converted chain', async () => {
    const dest = join(tmp, 'inline-zstd');
    cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:i`, '--inline-cache', '--opt', 'compression=zstd', '--opt', 'force-compression=true']);
    const back = await openCacheSource(`${dest}:i`);
    assert.equal(back.model.variant, 'inline');
    const img = await readImage(dest, 'i');
    const top = back.model.norm.records.length - 1;
    assert.deepEqual(back.model.graph.resolutions[top].stack.map((i) => back.model.norm.layers[i].blob), img.manifest.layers.map((l: { digest: string }) => l.digest));
  });

  it('bad options fail with BuildKit\'s messages before anything is read; cache-export-only options are refused by name', () => {
    const base = [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', join(tmp, 'never')];
    const r1 = run(process.execPath, [...base, '--opt', 'compression=lz4']);
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /unsupported compression type lz4/);
    const r2 = run(process.execPath, [...base, '--opt', 'compression=gzip', '--opt', 'compression-level=12']);
    assert.match(r2.stderr, /gzip: invalid compression level: 12/);
    const r3 = run(process.execPath, [...base, '--opt', 'force-compression=maybe']);
    assert.match(r3.stderr, /non-bool value maybe specified for force-compression/);
    const r4 = run(process.execPath, [...base, '--opt', 'tag=x']);
    assert.match(r4.stderr, /--opt tag does not apply to an image export \(it takes oci-mediatypes, compression, compression-level, force-compression\)/);
    assert.equal(run('test', ['-e', join(tmp, 'never')]).status, 1);
  });
});
