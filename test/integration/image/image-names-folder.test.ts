/**
 * `--name` on an OCI layout folder destination: index.json gets one entry per name, as BuildKit's oci
 * exporter (ociindex Name) and containerd's archive exporter write them: `io.containerd.image.name` =
 * the full normalised name and `org.opencontainers.image.ref.name` = its tag (ociReferenceName), next to
 * the `DIR:tag` entry. skopeo resolves the names' ref.name, oci-image-tool validates them, and exporting
 * again under the same name replaces that name's entry while every other entry stays.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ociReferenceName } from '../../../electron/engine/store/layout-index';
import { REPO } from '../../helpers/fixtures';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const IMAGE_NAME = 'io.containerd.image.name';
const REF_NAME = 'org.opencontainers.image.ref.name';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let tmp: string;
let bb: BusyboxCache;

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: '', env: { ...process.env, CACHESCOPE_CLI: 'source', XDG_CACHE_HOME: join(tmp, 'xdg') }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', text: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** `cachescope image … --json`: the progress lines and the result keys. */
function exportJson(args: string[]): { progress: string[]; result: Record<string, string> } {
  const r = run(process.execPath, [CLI, 'image', bb.dir, '--record', String(bb.resultRecord), ...args, '--json']);
  assert.equal(r.status, 0, `cachescope image ${args.join(' ')}: ${r.text}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return { progress: lines.slice(0, -1).map((l) => l.progress as string), result: lines.at(-1) };
}

interface Entry {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

async function indexOf(dir: string): Promise<{ schemaVersion: number; mediaType: string; manifests: Entry[] }> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
}

/**
 * `oci-image-tool validate --type image --ref name=REF DIR`, the --ref given once per index entry:
 * its findDescriptor drops non-matching entries while stepping forward, so it skips the entry after
 * each one it drops and, from three entries on, can keep a non-matching one ("is not unique"). Each
 * repeat of the same criterion runs that filter again, until only the matching entry is left.
 */
function validateRef(dir: string, ref: string, entries: number): void {
  const refs = Array.from({ length: entries }, () => ['--ref', `name=${ref}`]).flat();
  const v = run('oci-image-tool', ['validate', '--type', 'image', ...refs, dir]);
  assert.ok(v.status === 0 && /Validation succeeded/.test(v.text), `oci-image-tool validate --ref name=${ref}: ${v.text}`);
}

async function sizeOf(dir: string, digest: string): Promise<number> {
  return (await readFile(join(dir, 'blobs', 'sha256', digest.slice(7)))).length;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-names-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image --name into an OCI layout folder', () => {
  it('writes one index.json entry per name (image name + ref.name), beside the DIR:tag entry', async () => {
    const dest = join(tmp, 'named');
    const { progress, result } = exportJson(['--dest', `${dest}:v1`, '--name', 'app,registry.example/team/web:2']);
    const digest = result['containerimage.digest'];
    assert.deepEqual(progress.slice(-2), ['naming to docker.io/library/app:latest', 'naming to registry.example/team/web:2']);
    const size = await sizeOf(dest, digest);
    const index = await indexOf(dest);
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests, [
      { mediaType: OCI_MANIFEST, digest, size, annotations: { [REF_NAME]: 'v1' } },
      { mediaType: OCI_MANIFEST, digest, size, annotations: { [IMAGE_NAME]: 'docker.io/library/app:latest', [REF_NAME]: 'latest' } },
      { mediaType: OCI_MANIFEST, digest, size, annotations: { [IMAGE_NAME]: 'registry.example/team/web:2', [REF_NAME]: '2' } },
    ]);

    // skopeo finds each entry by its ref.name.
    for (const ref of ['v1', 'latest', '2']) {
      const s = run('skopeo', ['inspect', `oci:${dest}:${ref}`]);
      assert.equal(s.status, 0, `skopeo inspect oci:${dest}:${ref}: ${s.text}`);
      assert.equal(JSON.parse(s.stdout).Digest, digest, ref);
      validateRef(dest, ref, index.manifests.length);
    }
  });

  it('exporting again under the same name replaces that entry; other names, tags and same-ref.name entries of other images stay', async () => {
    const dest = join(tmp, 'again');
    const first = exportJson(['--dest', `${dest}:v1`, '--name', 'app,registry.example/team/web:2']).result['containerimage.digest'];
    // Another config: another manifest, under one of the names already there.
    const cfgFile = join(tmp, 'config.json');
    await writeFile(cfgFile, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'] } }));
    const second = exportJson(['--dest', `${dest}:v1`, '--config', cfgFile, '--name', 'registry.example/team/web:2,other.example/x:v1']).result['containerimage.digest'];
    assert.notEqual(first, second);
    const [s1, s2] = [await sizeOf(dest, first), await sizeOf(dest, second)];
    const index = await indexOf(dest);
    assert.deepEqual(index.manifests, [
      { mediaType: OCI_MANIFEST, digest: first, size: s1, annotations: { [IMAGE_NAME]: 'docker.io/library/app:latest', [REF_NAME]: 'latest' } },
      { mediaType: OCI_MANIFEST, digest: second, size: s2, annotations: { [REF_NAME]: 'v1' } },
      { mediaType: OCI_MANIFEST, digest: second, size: s2, annotations: { [IMAGE_NAME]: 'registry.example/team/web:2', [REF_NAME]: '2' } },
      // Its ref.name is the tag `v1` too, but it is an image name: the bare tag entry is not replaced by it.
      { mediaType: OCI_MANIFEST, digest: second, size: s2, annotations: { [IMAGE_NAME]: 'other.example/x:v1', [REF_NAME]: 'v1' } },
    ]);
    // The same export once more changes nothing: no duplicate entries.
    exportJson(['--dest', `${dest}:v1`, '--config', cfgFile, '--name', 'registry.example/team/web:2,other.example/x:v1']);
    assert.deepEqual((await indexOf(dest)).manifests, index.manifests);
    const s = run('skopeo', ['inspect', `oci:${dest}:2`]);
    assert.equal(s.status, 0, s.text);
    assert.equal(JSON.parse(s.stdout).Digest, second);
    for (const ref of ['latest', '2']) validateRef(dest, ref, index.manifests.length);
  });

  it('a name with a digest keeps the digest in its ref.name, as containerd\'s ociReferenceName does', async () => {
    const dest = join(tmp, 'digest');
    const pinned = `sha256:${'a'.repeat(64)}`;
    const { result } = exportJson(['--dest', `${dest}:t`, '--name', `localhost:5000/team/app:v2@${pinned},app@${pinned}`]);
    const names = (await indexOf(dest)).manifests.slice(1).map((m) => [m.annotations?.[IMAGE_NAME], m.annotations?.[REF_NAME], m.digest]);
    const digest = result['containerimage.digest'];
    assert.deepEqual(names, [
      [`localhost:5000/team/app:v2@${pinned}`, `v2@${pinned}`, digest],
      [`docker.io/library/app@${pinned}`, `@${pinned}`, digest],
    ]);
    assert.equal(ociReferenceName('localhost:5000/team/app:v2'), 'v2');
  });
});
