/**
 * The docker-archive as a real container engine takes it: `podman load` stores our image (its ID is our
 * config digest, its layers our diff_ids) and `podman run` runs it; the container prints what the
 * busybox script prints. podman runs as root with its own storage in a temp folder (vfs, cgroupfs,
 * file events, no network, runc), so nothing of the machine's podman state is read or changed.
 * Its default rlimits (nofile 1048576, nproc 4194304) are above what this machine lets a process set
 * ("error setting rlimit type 7: operation not permitted"), so the run asks for small ones.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../../helpers/fixtures';
import { EXPECTED_OUTPUT, writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const NAME = 'docker.io/library/cachescope-podman:1';

let tmp: string;
let bb: BusyboxCache;
let configFile: string;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: '', env: { ...process.env, CACHESCOPE_CLI: 'source', XDG_CACHE_HOME: join(tmp, 'xdg'), ...env }, timeout: 180_000 });
  return { status: r.status, stdout: r.stdout ?? '', text: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** podman with its own store under `tmp`: never the machine's images or containers. */
function podman(args: string[]) {
  const global = ['--root', join(tmp, 'podman', 'root'), '--runroot', join(tmp, 'podman', 'run'), '--tmpdir', join(tmp, 'podman', 'tmp'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc'];
  // TMPDIR: podman stages a loaded archive's blobs there (default /var/tmp).
  return run('podman', [...global, ...args], { TMPDIR: join(tmp, 'podman', 'tmp') });
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-podman-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  configFile = join(tmp, 'config.json');
  await writeFile(configFile, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'], WorkingDir: '/app' } }));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('docker-archive → podman', () => {
  it('podman load takes our docker-archive and podman run runs it: the container prints what the script prints', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('podman here runs only as root (no subuid setup): not running as root (named, not silent)');
    const file = join(tmp, 'app.tar');
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', `docker-archive:${file}`, '--config', configFile, '--name', 'cachescope-podman:1', '--json']);
    assert.equal(r.status, 0, r.text);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);

    const load = podman(['load', '--input', file]);
    assert.equal(load.status, 0, `podman load refused our docker-archive: ${load.text}`);
    assert.match(load.text, new RegExp(`Loaded image: ${NAME.replace(/[.]/g, '\\.')}`));
    const inspected = JSON.parse(podman(['image', 'inspect', NAME]).stdout)[0];
    assert.equal(`sha256:${inspected.Id}`, result['containerimage.config.digest']);
    assert.deepEqual(inspected.RootFS.Layers, bb.diffIDs);
    assert.deepEqual(inspected.Config.Cmd, ['/app/run.sh']);

    const ran = podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', NAME]);
    assert.equal(ran.status, 0, `podman run refused: ${ran.text}`);
    assert.equal(ran.stdout, EXPECTED_OUTPUT);
  });
});
