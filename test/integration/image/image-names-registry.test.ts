/**
 * `--name` on a registry destination, against a real distribution 2.8 behind the counting proxy: as
 * BuildKit's push=true pushes the image to every name, each name on the destination's registry gets
 * the manifest (another repository's blobs mounted from the destination's, not uploaded again), with a
 * `pushing manifest for NAME@DIGEST` line per name. A name on another registry is refused before a
 * single request is sent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createImageExportHandlers } from '../../../electron/engine/export/image-export-jobs';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { REPO } from '../../helpers/fixtures';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');

let tmp: string;
let bb: BusyboxCache;
let registry: RunningRegistry;
let proxy: CountingProxy;

/** Runs a command without blocking this process: the counting proxy answers from this event loop. */
function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: Buffer; text: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CACHESCOPE_CLI: 'source', XDG_CACHE_HOME: join(tmp, 'xdg') }, timeout: 120_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => err.push(Buffer.from(String(e))));
    child.on('close', (status) => {
      const stdout = Buffer.concat(out);
      resolve({ status, stdout, text: `${stdout.toString('utf8')}${Buffer.concat(err).toString('utf8')}` });
    });
  });
}

function image(args: string[]) {
  return run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), ...args, '--json']);
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-names-registry-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  registry = await startRegistry();
  proxy = await startProxy(registry);
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image → registry with --name', () => {
  it('pushes the manifest to every name on the registry; another repository gets the blobs by mount', async () => {
    proxy.clear();
    const dest = `${proxy.host}/team/app:v1`;
    const other = `${proxy.host}/team/other:v2`;
    const sameRepo = `${proxy.host}/team/app:v3`;
    const r = await image(['--dest', dest, '--name', `${other},${sameRepo}`]);
    assert.equal(r.status, 0, r.text);
    const lines = r.stdout.toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
    const result = lines.at(-1);
    const digest = result['containerimage.digest'] as string;
    assert.equal(result['image.name'], `${other},${sameRepo}`);
    assert.deepEqual(lines.slice(0, -1).map((l) => l.progress), [
      'exporting layers',
      `writing image ${result['containerimage.config.digest']}`,
      'pushing layers',
      `pushing manifest for ${dest}@${digest}`,
      'pushing layers',
      `pushing manifest for ${other}@${digest}`,
      'pushing layers',
      `pushing manifest for ${sameRepo}@${digest}`,
      `naming to ${other}`,
      `naming to ${sameRepo}`,
    ]);

    // Every name serves our very manifest bytes (skopeo straight at the registry, not counted).
    for (const ref of [`${registry.host}/team/other:v2`, `${registry.host}/team/app:v3`]) {
      const raw = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
      assert.equal(raw.status, 0, `skopeo inspect --raw docker://${ref}: ${raw.text}`);
      assert.equal(sha256(raw.stdout), digest, ref);
      assert.equal(JSON.parse(raw.stdout.toString('utf8')).config.digest, result['containerimage.config.digest']);
    }

    // team/other got its 3 layers and the config by cross-repository mount from team/app: no blob bytes.
    const reqs = proxy.requests();
    const mounts = reqs.filter((q) => q.method === 'POST' && q.path.startsWith('/v2/team/other/blobs/uploads/') && q.path.includes('mount='));
    assert.equal(mounts.length, 4, reqs.map((q) => `${q.method} ${q.path} ${q.status}`).join('\n'));
    assert.ok(mounts.every((q) => q.status === 201 && q.path.includes(`from=${encodeURIComponent('team/app')}`)), mounts.map((q) => `${q.path} ${q.status}`).join('\n'));
    const mounted = new Set(mounts.map((q) => decodeURIComponent(/mount=([^&]+)/.exec(q.path)![1])));
    assert.deepEqual([...mounted].sort(), [...result.layers.map((l: { digest: string }) => l.digest), result['containerimage.config.digest']].sort());
    const uploads = reqs.filter((q) => q.path.startsWith('/v2/team/other/blobs/uploads/') && (q.method === 'PATCH' || q.method === 'PUT'));
    assert.deepEqual(uploads.map((q) => `${q.method} ${q.path}`), []);
    const manifestPuts = reqs.filter((q) => q.method === 'PUT' && q.path.includes('/manifests/'));
    assert.deepEqual(manifestPuts.map((q) => `${q.path} ${q.status}`), ['/v2/team/app/manifests/v1 201', '/v2/team/other/manifests/v2 201', '/v2/team/app/manifests/v3 201']);
    // team/app:v3 needed no blob work at all: the destination push had just put them there.
    const afterDest = reqs.filter((q) => q.index > manifestPuts[0].index && q.path.startsWith('/v2/team/app/blobs/'));
    assert.deepEqual(afterDest.map((q) => `${q.method} ${q.path}`), []);
  });

  it('a name on another registry is refused before any request, naming the name and the destination registry', async () => {
    proxy.clear();
    const dest = `${proxy.host}/team/app:v9`;
    for (const name of [`${registry.host}/team/elsewhere:1`, 'app']) {
      const r = await image(['--dest', dest, '--name', `${proxy.host}/team/ok:1,${name}`]);
      assert.notEqual(r.status, 0, r.text);
      const full = name === 'app' ? 'docker.io/library/app:latest' : name;
      assert.match(r.text, new RegExp(`${full.replace(/[.]/g, '\\.')}.*is on .*(docker\\.io|${registry.host.replace(/[.]/g, '\\.')}).*not on ${proxy.host.replace(/[.]/g, '\\.')}`), r.text);
      assert.deepEqual(proxy.requests().map((q) => `${q.method} ${q.path}`), [], `requests for ${name}`);
    }
    // A name pinned to a digest has no tag to push by: refused just as early.
    const pinned = await image(['--dest', dest, '--name', `${proxy.host}/team/pinned@sha256:${'a'.repeat(64)}`]);
    assert.notEqual(pinned.status, 0, pinned.text);
    assert.match(pinned.text, /--name .*team\/pinned@sha256:a{64} names a digest/);
    assert.deepEqual(proxy.requests().map((q) => `${q.method} ${q.path}`), []);
    // The GUI's requests say the same before Start, and Start refuses it without a job.
    const opened = await openCacheSource(bb.dir);
    const handlers = createImageExportHandlers({ opened: () => opened, emit: () => {}, env: { ...process.env, XDG_CACHE_HOME: join(tmp, 'xdg') } });
    const params = { cacheId: 'c1', selection: { record: bb.resultRecord }, names: `${registry.host}/team/elsewhere:1`, dest };
    const preview = await handlers.previewImageExport(params);
    assert.match(preview.error ?? '', new RegExp(`--name ${registry.host}/team/elsewhere:1 is on registry ${registry.host}, not on ${proxy.host}`));
    await assert.rejects(handlers.startImageExport(params), /is on registry .* not on/);
    assert.deepEqual(proxy.requests().map((q) => `${q.method} ${q.path}`), []);
    // Nor did anything reach the other registry under that name.
    const res = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/team/elsewhere:1`]);
    assert.notEqual(res.status, 0, res.text);
  });
});
