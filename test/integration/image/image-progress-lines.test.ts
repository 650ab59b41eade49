/**
 * What `cachescope image --json` prints for each destination: the exporter's progress lines in order
 * (`exporting layers`, `writing image sha256:…`, BuildKit's `pushing layers` / `pushing manifest for …`
 * for a registry, `naming to …` per name) and the response keys, which are the image written; and the
 * image made without --config: BuildKit's empty config for this machine's platform (or --platform).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../../helpers/fixtures';
import { startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Go's GOARCH for the architectures Node names differently. */
const HERE = { os: process.platform, architecture: ({ x64: 'amd64', arm64: 'arm64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch };

let tmp: string;
let bb: BusyboxCache;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'image', ...args], { encoding: 'utf8', input: '', env: { ...process.env, CACHESCOPE_CLI: 'source', XDG_CACHE_HOME: join(tmp, 'xdg') }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', text: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** The --json lines: progress objects, then the result. */
function exportJson(args: string[]): { progress: string[]; result: Record<string, unknown> } {
  const r = run([bb.dir, '--record', String(bb.resultRecord), ...args, '--json']);
  assert.equal(r.status, 0, r.text);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const result = lines.at(-1)!;
  assert.ok(lines.slice(0, -1).every((l) => Object.keys(l).length === 1 && typeof l.progress === 'string'), r.stdout);
  return { progress: lines.slice(0, -1).map((l) => l.progress as string), result };
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function layoutConfig(dir: string, manifestDigest: string): Promise<{ config: Record<string, unknown>; configDigest: string }> {
  const blob = (d: string) => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
  const manifestBytes = await blob(manifestDigest);
  assert.equal(sha256(manifestBytes), manifestDigest);
  const configDigest = JSON.parse(manifestBytes.toString('utf8')).config.digest as string;
  const configBytes = await blob(configDigest);
  assert.equal(sha256(configBytes), configDigest);
  return { config: JSON.parse(configBytes.toString('utf8')), configDigest };
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-lines-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image --json: progress lines and response keys per destination', () => {
  it('folder without names: exporting layers, writing image; no naming line and no image.name key', async () => {
    const dest = join(tmp, 'plain');
    const { progress, result } = exportJson(['--dest', `${dest}:v1`]);
    assert.deepEqual(progress, ['exporting layers', `writing image ${result['containerimage.config.digest']}`]);
    assert.equal('image.name' in result, false);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, result['containerimage.digest']);
    const { configDigest } = await layoutConfig(dest, result['containerimage.digest'] as string);
    assert.equal(configDigest, result['containerimage.config.digest']);
  });

  it('docker-archive with two names: one naming line per name, image.name joins them, the archive holds that config', () => {
    const file = join(tmp, 'two-names.tar');
    const { progress, result } = exportJson(['--dest', `docker-archive:${file}`, '--name', 'a,registry.example/team/b:2']);
    const cfg = result['containerimage.config.digest'] as string;
    assert.deepEqual(progress, ['exporting layers', `writing image ${cfg}`, 'naming to docker.io/library/a:latest', 'naming to registry.example/team/b:2']);
    assert.equal(result['image.name'], 'docker.io/library/a:latest,registry.example/team/b:2');
    const manifest = JSON.parse(spawnSync('tar', ['xOf', file, 'manifest.json'], { encoding: 'utf8' }).stdout);
    assert.equal(manifest[0].Config, `${cfg.slice(7)}.json`);
    const configBytes = spawnSync('tar', ['xOf', file, manifest[0].Config]).stdout;
    assert.equal(sha256(configBytes), cfg);
  });

  describe('registry', () => {
    let registry: RunningRegistry;
    before(async () => {
      registry = await startRegistry();
    });
    after(async () => {
      await registry?.stop();
    });

    it('BuildKit\'s push lines between writing and naming; the pushed manifest is containerimage.digest', async () => {
      const ref = `${registry.host}/team/lines:v1`;
      // A registry destination pushes to each name too, so a name must be on the same registry.
      const name = `${registry.host}/team/app:latest`;
      const { progress, result } = exportJson(['--dest', ref, '--name', name]);
      const manifestDigest = result['containerimage.digest'] as string;
      assert.deepEqual(progress, [
        'exporting layers',
        `writing image ${result['containerimage.config.digest']}`,
        'pushing layers',
        `pushing manifest for ${ref}@${manifestDigest}`,
        'pushing layers',
        `pushing manifest for ${name}@${manifestDigest}`,
        `naming to ${name}`,
      ]);
      const res = await fetch(`${registry.url}/v2/team/lines/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 200);
      assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), manifestDigest);
    });
  });
});

describe('the image without --config: BuildKit\'s empty config', () => {
  it('this machine\'s platform, the default PATH, WorkingDir /, history from the layers', async () => {
    const dest = join(tmp, 'empty');
    const { result } = exportJson(['--dest', `${dest}:e`]);
    assert.equal(result.configOrigin, `empty (${HERE.os}/${HERE.architecture})`);
    const { config } = await layoutConfig(dest, result['containerimage.digest'] as string);
    assert.equal(config.os, HERE.os);
    assert.equal(config.architecture, HERE.architecture);
    assert.deepEqual(config.config, { Env: [PATH_ENV], WorkingDir: '/' });
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: bb.diffIDs });
    assert.deepEqual(config.history, [
      { created: '2026-01-01T10:00:00.000000001Z', comment: 'buildkit.exporter.image.v0' },
      { created: '2026-01-01T10:00:01.5Z', comment: 'buildkit.exporter.image.v0' },
      { created: '2026-01-01T10:00:02Z', comment: 'buildkit.exporter.image.v0' },
    ]);
    assert.equal(config.created, '2026-01-01T10:00:02Z');
  });

  it('--platform chooses the empty config\'s platform (arm/v7 keeps its variant)', async () => {
    for (const [platform, want] of [['linux/arm64', { os: 'linux', architecture: 'arm64' }], ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }]] as const) {
      const dest = join(tmp, `empty-${platform.replace(/\//g, '-')}`);
      const { result } = exportJson(['--dest', `${dest}:p`, '--platform', platform]);
      const { config } = await layoutConfig(dest, result['containerimage.digest'] as string);
      assert.deepEqual({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }, want, platform);
      assert.deepEqual(config.config, { Env: [PATH_ENV], WorkingDir: '/' }, platform);
    }
  });
});
