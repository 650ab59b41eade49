/**
 * The docker-archive as docker itself takes it: a real dockerd (Debian's docker.io, started by the
 * test on its own socket, data root and exec root in a temp folder, vfs storage, no iptables, no
 * bridge) runs `docker load` on our tar; `docker image inspect` shows our config digest as the image
 * ID, our diff_ids as its layers and our names as its tags; `docker run` runs it (no network) and
 * the container prints what the busybox script prints. The daemon is stopped by its PID.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../../helpers/fixtures';
import { EXPECTED_OUTPUT, writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const DOCKERD = '/usr/sbin/dockerd';
// docker.io's own client, the daemon's version (another docker on PATH may be newer).
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

let tmp: string;
let bb: BusyboxCache;
let configFile: string;
let daemon: ChildProcess | undefined;
let daemonLog = '';
let socket: string;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: '', env: { ...process.env, CACHESCOPE_CLI: 'source', XDG_CACHE_HOME: join(tmp, 'xdg'), ...env }, timeout: 180_000 });
  return { status: r.status, stdout: r.stdout ?? '', text: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** The docker client, talking only to the test's daemon (never the machine's, nor its config). */
function docker(args: string[]) {
  return run(DOCKER, args, { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(tmp, 'docker-config') });
}

/** Starts dockerd on a socket in `tmp`; resolves once `docker version` answers, or says why not. */
async function startDockerd(): Promise<string | null> {
  socket = join(tmp, 'docker.sock');
  const dir = join(tmp, 'dockerd');
  daemon = spawn(DOCKERD, [
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
    '--host', `unix://${socket}`, '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (c: Buffer) => (daemonLog += c.toString()));
  daemon.stderr!.on('data', (c: Buffer) => (daemonLog += c.toString()));
  let exited = false;
  daemon.on('exit', () => (exited = true));
  for (let i = 0; i < 300; i++) {
    if (exited) return `dockerd exited while starting:\n${daemonLog.slice(-2000)}`;
    if (existsSync(socket) && docker(['version', '--format', '{{.Server.Version}}']).status === 0) return null;
    await sleep(100);
  }
  return `dockerd did not answer on ${socket} within 30 s:\n${daemonLog.slice(-2000)}`;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-docker-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  configFile = join(tmp, 'config.json');
  await writeFile(configFile, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'], WorkingDir: '/app' } }));
});
after(async () => {
  if (daemon && daemon.exitCode === null) {
    const gone = new Promise((r) => daemon!.once('exit', r));
    daemon.kill('SIGTERM');
    await Promise.race([gone, sleep(15_000, undefined, { ref: false })]);
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('docker-archive → docker', () => {
  it('docker load takes our docker-archive with both names, and docker run runs it: the container prints what the script prints', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('dockerd needs root: not running as root (named, not silent)');
    assert.ok(existsSync(DOCKERD), `${DOCKERD} is missing: Debian's docker.io is in scripts/system-packages.mjs`);
    const refused = await startDockerd();
    assert.equal(refused, null, refused ?? '');

    const file = join(tmp, 'app.tar');
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', `docker-archive:${file}`, '--config', configFile, '--name', 'cachescope-docker:1,example.test/team/app:v2', '--json']);
    assert.equal(r.status, 0, r.text);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);

    const load = docker(['load', '--input', file]);
    assert.equal(load.status, 0, `docker load refused our docker-archive: ${load.text}`);
    assert.match(load.text, /Loaded image: cachescope-docker:1/);
    assert.match(load.text, /Loaded image: example\.test\/team\/app:v2/);
    const inspected = JSON.parse(docker(['image', 'inspect', 'cachescope-docker:1']).stdout)[0];
    assert.equal(inspected.Id, result['containerimage.config.digest']);
    assert.deepEqual(inspected.RootFS.Layers, bb.diffIDs);
    assert.deepEqual(inspected.Config.Cmd, ['/app/run.sh']);
    assert.deepEqual([...inspected.RepoTags].sort(), ['cachescope-docker:1', 'example.test/team/app:v2']);

    const ran = docker(['run', '--rm', '--network', 'none', 'cachescope-docker:1']);
    assert.equal(ran.status, 0, `docker run refused: ${ran.text}\n${daemonLog.slice(-2000)}`);
    assert.equal(ran.stdout, EXPECTED_OUTPUT);
  });
});
