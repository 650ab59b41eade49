/**
 * Image export to a registry (a real distribution registry): layers, config and manifest are pushed;
 * skopeo inspects the pushed image (our diff_ids and history), copies it to a docker-archive, and the
 * pushed image opens back as an inline-cache source with the same subgraph; skopeo copies our folder
 * and our docker-archive into the registry, where skopeo inspect shows our diff_ids and history.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';
import { REPO } from '../../helpers/fixtures';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, CACHESCOPE_CLI: 'source' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', text: `${r.stdout}${r.stderr}` };
}

let tmp: string;
let registry: RunningRegistry;
let bb: BusyboxCache;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-registry-'));
  registry = await startRegistry();
  bb = await writeBusyboxCache(join(tmp, 'cache'));
});
after(async () => {
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image → registry', () => {
  it('pushes the image; skopeo reads it and copies it to a docker-archive; it opens back as inline cache', () => {
    const ref = `${registry.host}/team/app:v1`;
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', ref, '--inline-cache', '--json']);
    assert.equal(r.status, 0, r.text);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    const raw = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]).stdout);
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(raw.config.digest, result['containerimage.config.digest']);
    const cfg = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${ref}`]).stdout);
    assert.deepEqual(cfg.rootfs.diff_ids, bb.diffIDs);
    assert.equal(cfg.history.length, 3);
    const archive = join(tmp, 'copy.tar');
    const c = run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `docker-archive:${archive}:app:v1`]);
    assert.equal(c.status, 0, c.text);
    const back = run(process.execPath, [CLI, 'inspect', ref, '--json']);
    assert.equal(back.status, 0, back.text);
    const view = JSON.parse(back.stdout);
    assert.equal(view.variant, 'inline');
    assert.equal(view.summary.records, 5);
    assert.deepEqual(view.records.find((x: { digest: string }) => x.digest === view.records[4].digest).results.map((x: { layer: number }) => x.layer), [2]);
  });

  it('skopeo copy puts our folder and our docker-archive into the registry; skopeo inspect there shows our diff_ids and history', () => {
    const cfgFile = join(tmp, 'config.json');
    writeFileSync(cfgFile, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'] }, history: [{ created_by: 'ADD busybox' }] }));
    const folder = join(tmp, 'img');
    const archive = join(tmp, 'img.tar');
    const made = [`${folder}:v1`, `docker-archive:${archive}`].map((dest) => {
      const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', dest, '--config', cfgFile, '--json']);
      assert.equal(r.status, 0, r.text);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    });
    assert.equal(made[0]['containerimage.config.digest'], made[1]['containerimage.config.digest']);
    for (const [src, repo] of [[`oci:${folder}:v1`, 'from-oci'], [`docker-archive:${archive}`, 'from-archive']]) {
      const ref = `${registry.host}/team/${repo}:v1`;
      const c = run('skopeo', ['copy', '--dest-tls-verify=false', src, `docker://${ref}`]);
      assert.equal(c.status, 0, `skopeo copy ${src} → docker://${ref}: ${c.text}`);
      const cfg = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${ref}`]).stdout);
      assert.deepEqual(cfg.rootfs, { type: 'layers', diff_ids: bb.diffIDs }, src);
      assert.deepEqual(cfg.history.map((h: { created_by?: string; comment?: string }) => h.created_by ?? h.comment), ['ADD busybox', 'buildkit.exporter.image.v0', 'buildkit.exporter.image.v0'], src);
      assert.deepEqual(cfg.config.Cmd, ['/app/run.sh'], src);
      const inspected = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]).stdout);
      assert.equal(inspected.Layers.length, 3, src);
    }
    // The folder's layers keep their bytes on the way: the registry holds the very blobs we wrote.
    const raw = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/team/from-oci:v1`]).stdout);
    const ours = JSON.parse(readFileSync(join(folder, 'blobs', 'sha256', made[0]['containerimage.digest'].slice(7)), 'utf8'));
    assert.deepEqual(raw.layers.map((l: { digest: string }) => l.digest), ours.layers.map((l: { digest: string }) => l.digest));
    assert.equal(raw.config.digest, made[0]['containerimage.config.digest']);
  });

  it('converts layers on the way (force-compression): the registry gets zstd layers, the config keeps the diff_ids', () => {
    const ref = `${registry.host}/team/app:zstd`;
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', ref, '--opt', 'compression=zstd', '--opt', 'force-compression=true', '--json']);
    assert.equal(r.status, 0, r.text);
    const raw = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]).stdout);
    assert.deepEqual(raw.layers.map((l: { mediaType: string }) => l.mediaType), Array(3).fill('application/vnd.oci.image.layer.v1.tar+zstd'));
    const cfg = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${ref}`]).stdout);
    assert.deepEqual(cfg.rootfs.diff_ids, bb.diffIDs);
    // skopeo pulls the zstd layers back and checks them while recompressing.
    const c = run('skopeo', ['copy', '--src-tls-verify=false', '--dest-compress-format', 'gzip', `docker://${ref}`, `oci:${join(tmp, 'pulled')}:z`]);
    assert.equal(c.status, 0, c.text);
  });
});
