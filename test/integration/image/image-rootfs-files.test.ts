/**
 * The fallback proof the issue asks for when a container cannot run: the exported image (a folder,
 * and the docker-archive through skopeo) is unpacked by umoci (`--rootless` when not root) and its
 * rootfs checked file by file against what the cache's layers hold: the static busybox byte for
 * byte, the script with its mode, the message file. Runs on every machine, root or not; the runs
 * themselves (runc, podman) are in image-export.test.ts and image-podman.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../../helpers/fixtures';
import { BUSYBOX, SCRIPT, writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const ROOT = process.getuid?.() === 0;

let tmp: string;
let bb: BusyboxCache;

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: '', env: { ...process.env, CACHESCOPE_CLI: 'source', XDG_CACHE_HOME: join(tmp, 'xdg') }, timeout: 120_000 });
  return { status: r.status, text: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Every path under `dir`, relative, sorted; directories end with `/`. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(`${relative(dir, p)}${e.isDirectory() ? '/' : ''}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** umoci unpacks `image` (oci DIR:tag); the rootfs must hold exactly the three layers' files. */
async function checkRootfs(image: string, bundle: string): Promise<void> {
  const u = run('umoci', ['unpack', ...(ROOT ? [] : ['--rootless']), '--image', image, bundle]);
  assert.equal(u.status, 0, `umoci unpack ${image} refused: ${u.text}`);
  const rootfs = join(bundle, 'rootfs');
  assert.deepEqual(await tree(rootfs), ['app/', 'app/run.sh', 'bin/', 'bin/busybox', 'etc/', 'etc/message']);
  assert.deepEqual(await readFile(join(rootfs, 'bin', 'busybox')), await readFile(BUSYBOX), 'bin/busybox is the static busybox, byte for byte');
  assert.equal(await readFile(join(rootfs, 'app', 'run.sh'), 'utf8'), SCRIPT);
  assert.equal(await readFile(join(rootfs, 'etc', 'message'), 'utf8'), 'image export works\n');
  for (const [path, mode] of [['bin/busybox', 0o755], ['app/run.sh', 0o755], ['etc/message', 0o644]] as const) {
    const st = await lstat(join(rootfs, path));
    assert.ok(st.isFile(), `${path} is a regular file`);
    assert.equal(st.mode & 0o777, mode, `${path} mode`);
  }
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-rootfs-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the exported image\'s rootfs, file by file (umoci unpack)', () => {
  it('a folder export', async () => {
    const dest = join(tmp, 'img');
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', `${dest}:t`]);
    assert.equal(r.status, 0, r.text);
    await checkRootfs(`${dest}:t`, join(tmp, 'bundle-folder'));
  });

  it('a docker-archive export, read by skopeo into a layout', async () => {
    const file = join(tmp, 'img.tar');
    const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), '--dest', `docker-archive:${file}`, '--name', 'app:1']);
    assert.equal(r.status, 0, r.text);
    const copied = join(tmp, 'from-archive');
    const c = run('skopeo', ['copy', `docker-archive:${file}`, `oci:${copied}:t`]);
    assert.equal(c.status, 0, `skopeo copy docker-archive:${file} refused: ${c.text}`);
    await checkRootfs(`${copied}:t`, join(tmp, 'bundle-archive'));
  });
});
