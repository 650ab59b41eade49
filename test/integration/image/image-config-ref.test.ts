/**
 * `--config REF`: the starting config taken from an image, in a local OCI layout (`DIR:tag`,
 * `DIR@sha256:…`) or a real registry (`host/repo:tag`); a multi-platform index picks the chosen
 * platform, and says which platforms it has when none matches; a cache is refused as "not an image config".
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';
import { REPO } from '../../helpers/fixtures';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, CACHESCOPE_CLI: 'source' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', text: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

function image(args: string[]) {
  const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), ...args, '--json']);
  assert.equal(r.status, 0, `cachescope image ${args.join(' ')}: ${r.text}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

interface ImageConfigJson {
  architecture: string;
  config: { Env?: string[]; Labels?: Record<string, string> };
  rootfs: { diff_ids: string[] };
}

async function configOf(dir: string, tag: string): Promise<ImageConfigJson> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const blob = async (d: string) => JSON.parse(await readFile(join(dir, 'blobs', 'sha256', d.slice(7)), 'utf8'));
  return blob((await blob(entry.digest)).config.digest);
}

/** A two-platform image (linux/amd64, linux/arm64/v8) as an OCI index, each config with its own Env marker. */
async function writeMultiPlatform(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (text: string) => {
    const b = Buffer.from(text);
    await writeFile(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
    return { digest: sha(b), size: b.length };
  };
  const manifests = [];
  for (const [arch, variant] of [['amd64', undefined], ['arm64', 'v8']] as const) {
    const config = await put(JSON.stringify({ os: 'linux', architecture: arch, ...(variant ? { variant } : {}), config: { Env: [`MARK=${arch}`], Cmd: ['/app/run.sh'] }, rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = await put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] }));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) } });
  }
  // BuildKit's attestation manifest: not a platform.
  manifests.push({ ...manifests[0], platform: { os: 'unknown', architecture: 'unknown' } });
  const index = await put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
}

let tmp: string;
let bb: BusyboxCache;
let base: string;
let registry: RunningRegistry;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-config-ref-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  // A base image whose config the next exports start from.
  const file = join(tmp, 'base-config.json');
  await writeFile(file, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'], Env: ['FROM=base-image'], Labels: { team: 'cachescope' } } }));
  base = join(tmp, 'base');
  image(['--dest', `${base}:v1`, '--config', file]);
  await writeMultiPlatform(join(tmp, 'multi'));
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image --config REF', () => {
  it('a local layout by tag and by digest: the new image starts from that image\'s config', async () => {
    const byTag = image(['--dest', `${join(tmp, 'from-tag')}:t`, '--config', `${base}:v1`]);
    const cfg = await configOf(join(tmp, 'from-tag'), 't');
    assert.deepEqual(cfg.config.Env, ['FROM=base-image']);
    assert.deepEqual(cfg.config.Labels, { team: 'cachescope' });
    assert.deepEqual(cfg.rootfs.diff_ids, bb.diffIDs);
    assert.match(byTag.configOrigin, new RegExp(`^image ${base}:v1$`));
    const digest = JSON.parse(await readFile(join(base, 'index.json'), 'utf8')).manifests[0].digest;
    const byDigest = image(['--dest', `${join(tmp, 'from-digest')}:t`, '--config', `${base}@${digest}`]);
    assert.equal(byDigest['containerimage.config.digest'], byTag['containerimage.config.digest']);
  });

  it('a multi-platform index picks --platform; no match lists the platforms it has', async () => {
    const multi = join(tmp, 'multi');
    const arm = image(['--dest', `${join(tmp, 'arm')}:t`, '--config', `${multi}:multi`, '--platform', 'linux/arm64']);
    const cfg = await configOf(join(tmp, 'arm'), 't');
    assert.equal(cfg.architecture, 'arm64');
    assert.deepEqual(cfg.config.Env, ['MARK=arm64']);
    assert.match(arm.configOrigin, /\(linux\/arm64\/v8 of 2 platforms\)/);
    const amd = await (async () => (image(['--dest', `${join(tmp, 'amd')}:t`, '--config', `${multi}:multi`, '--platform', 'linux/amd64']), configOf(join(tmp, 'amd'), 't')))();
    assert.deepEqual(amd.config.Env, ['MARK=amd64']);
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', join(tmp, 'none'), '--config', `${multi}:multi`, '--platform', 'linux/s390x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no image for platform linux\/s390x; the index has linux\/amd64, linux\/arm64\/v8 \(choose one with --platform\)/);
  });

  it('a registry reference: the config is fetched through the registry client', async () => {
    const ref = `${registry.host}/base/app:1`;
    const c = run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${base}:v1`, `docker://${ref}`]);
    assert.equal(c.status, 0, c.text);
    const got = image(['--dest', `${join(tmp, 'from-registry')}:t`, '--config', ref]);
    const cfg = await configOf(join(tmp, 'from-registry'), 't');
    assert.deepEqual(cfg.config.Env, ['FROM=base-image']);
    assert.equal(got.configOrigin, `image ${ref}`);
    const missing = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', join(tmp, 'none'), '--config', `${registry.host}/base/app:nope`]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nope/);
  });

  it('a cache is not an image config: refused by name; an unknown tag lists the tags', () => {
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', join(tmp, 'none'), '--config', `${bb.dir}:latest`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not an image config: the manifest's config is a BuildKit cache config \(application\/vnd\.buildkit\.cacheconfig\.v0\)/);
    const t = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', join(tmp, 'none'), '--config', `${base}:v2`]);
    assert.match(t.stderr, /no image tagged "v2" in .*index\.json \(tags: v1\)/);
    assert.equal(run('test', ['-e', join(tmp, 'none')]).status, 1);
  });
});
