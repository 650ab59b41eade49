/**
 * Image export, end to end with real peers: the CLI turns a cached result into an image; umoci unpacks
 * it and runc runs it (the container must print what the script prints); skopeo reads our diff_ids and
 * history from the folder and from the docker-archive and copies between them; oci-image-tool
 * validates the layout; the inline cache written with --inline-cache reads back as the same subgraph.
 * The docker-archive is also run through skopeo copy → umoci → runc here; `podman load` and
 * `podman run` of it are in image-podman.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { link, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportImage } from '../../../electron/engine/export/image-export';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createVerifyMemo } from '../../../electron/engine/store/verify-memo';
import type { VerifyMemo } from '../../../electron/engine/store/verify-memo';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { EXPECTED_OUTPUT, writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const EXPORTER_COMMENT = 'buildkit.exporter.image.v0';

function run(cmd: string, args: string[], options: { input?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: options.input ?? '', env: { ...process.env, CACHESCOPE_CLI: 'source' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', text: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

function cli(source: string, args: string[]) {
  const r = run(process.execPath, [CLI, 'image', source, ...args, '--json']);
  assert.equal(r.status, 0, `cachescope image ${args.join(' ')}: ${r.text}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return { result: lines[lines.length - 1], progress: lines.slice(0, -1).map((l) => l.progress as string) };
}

/** umoci unpack + runc run (as root); returns the container's stdout. Names exactly what refused. */
async function unpackAndRun(image: string, bundle: string, id: string): Promise<string> {
  const u = run('umoci', ['unpack', '--image', image, bundle]);
  assert.equal(u.status, 0, `umoci unpack ${image} refused: ${u.text}`);
  // umoci asks for a terminal; a test has none.
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
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  configFile = join(tmp, 'config.json');
  await writeFile(configFile, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'], WorkingDir: '/app' }, history: [{ created_by: 'ADD busybox' }] }));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image: a runnable image from a cached result', () => {
  it('folder: umoci unpacks it, runc runs it and the container prints what the script prints', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('runc needs root: not running as root (named, not silent)');
    const dest = join(tmp, 'img');
    const { result, progress } = cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:run`, '--config', configFile, '--name', 'app']);
    assert.deepEqual(progress, ['exporting layers', `writing image ${result['containerimage.config.digest']}`, 'naming to docker.io/library/app:latest']);
    assert.equal(result['image.name'], 'docker.io/library/app:latest');
    assert.deepEqual(result.diffIDs, bb.diffIDs);
    const out = await unpackAndRun(`${dest}:run`, join(tmp, 'bundle1'), `cachescope-img-${process.pid}-1`);
    assert.equal(out, EXPECTED_OUTPUT);

    const v = run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=run', dest]);
    assert.ok(v.status === 0 && /Validation succeeded/.test(v.text), `oci-image-tool: ${v.text}`);

    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${dest}:run`]).stdout);
    assert.deepEqual(cfg.rootfs, { type: 'layers', diff_ids: bb.diffIDs });
    assert.deepEqual(cfg.history, [
      { created: '2026-01-01T10:00:00.000000001Z', created_by: 'ADD busybox' },
      { created: '2026-01-01T10:00:01.5Z', comment: EXPORTER_COMMENT },
      { created: '2026-01-01T10:00:02Z', comment: EXPORTER_COMMENT },
    ]);
    assert.equal(cfg.created, '2026-01-01T10:00:02Z');
    assert.deepEqual(cfg.config.Cmd, ['/app/run.sh']);
  });

  it('docker-archive: skopeo reads diff_ids and history, copies it to a folder and back, and the copy runs', async (t) => {
    const file = join(tmp, 'app.tar');
    cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `docker-archive:${file}`, '--config', configFile, '--name', 'app:1,registry.example/team/app:2']);
    const list = run('tar', ['tf', file]).stdout.trim().split('\n');
    assert.ok(list.includes('manifest.json') && list.includes('repositories'), list.join(', '));
    const manifest = JSON.parse(run('tar', ['xOf', file, 'manifest.json']).stdout);
    assert.deepEqual(manifest[0].RepoTags, ['docker.io/library/app:1', 'registry.example/team/app:2']);
    assert.equal(manifest[0].Layers.length, 3);

    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${file}`]).stdout);
    assert.deepEqual(cfg.rootfs.diff_ids, bb.diffIDs);
    assert.equal(cfg.history.length, 3);
    const inspected = JSON.parse(run('skopeo', ['inspect', `docker-archive:${file}`]).stdout);
    assert.deepEqual(inspected.Layers, bb.diffIDs);

    const copied = join(tmp, 'from-archive');
    const c1 = run('skopeo', ['copy', `docker-archive:${file}`, `oci:${copied}:x`]);
    assert.equal(c1.status, 0, c1.text);
    const back = join(tmp, 'back.tar');
    const c2 = run('skopeo', ['copy', `oci:${copied}:x`, `docker-archive:${back}:app:3`]);
    assert.equal(c2.status, 0, c2.text);
    assert.deepEqual(JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${back}`]).stdout).rootfs.diff_ids, bb.diffIDs);
    if (process.getuid?.() !== 0) return t.skip('runc needs root: not running as root (named, not silent)');
    assert.equal(await unpackAndRun(`${copied}:x`, join(tmp, 'bundle2'), `cachescope-img-${process.pid}-2`), EXPECTED_OUTPUT);
  });

  it('--inline-cache: reading the image back gives exactly the result\'s subgraph, layers referring to the image', async () => {
    const dest = join(tmp, 'inline');
    cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:v1`, '--inline-cache']);
    const back = await openCacheSource(`${dest}:v1`);
    assert.equal(back.model.variant, 'inline');
    // Records 0–4 reach the result; record 5 does not.
    const original = await openCacheSource(bb.dir);
    const image = original.model.graph.resolutions[bb.resultRecord].stack.map((i) => original.model.norm.layers[i].blob);
    assert.deepEqual(keys(back, 4, image), keys(original, bb.resultRecord, image));
    assert.deepEqual(back.model.graph.resolutions[4].stack.map((i) => back.model.norm.layers[i].blob), image);
    assert.equal(back.model.norm.records.length, 5);
  });

  it('--layer N and --chain DIGEST pick the same chain as the record; oci-mediatypes=false writes Docker types', async () => {
    const opened = await openCacheSource(bb.dir);
    const stack = opened.model.graph.resolutions[bb.resultRecord].stack;
    const top = stack.at(-1)!;
    const byRecord = cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', join(tmp, 'sel-r')]).result;
    const byLayer = cli(bb.dir, ['--layer', String(top), '--dest', join(tmp, 'sel-l')]).result;
    const byChain = cli(bb.dir, ['--chain', opened.model.norm.layers[top].blob, '--dest', join(tmp, 'sel-c')]).result;
    assert.equal(byLayer['containerimage.digest'], byRecord['containerimage.digest']);
    assert.equal(byChain['containerimage.digest'], byRecord['containerimage.digest']);
    // The base alone: a one-layer image.
    assert.deepEqual(cli(bb.dir, ['--layer', String(stack[0]), '--dest', join(tmp, 'sel-base')]).result.diffIDs, [bb.diffIDs[0]]);

    const dest = join(tmp, 'docker-types');
    cli(bb.dir, ['--record', String(bb.resultRecord), '--dest', `${dest}:d`, '--docker-mediatypes']);
    // skopeo 1.9 finds no index.json entry whose media type is a Docker manifest, so the files are read directly.
    const entry = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')).manifests[0];
    assert.equal(entry.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const raw = JSON.parse(await readFile(join(dest, 'blobs', 'sha256', entry.digest.slice(7)), 'utf8'));
    assert.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(raw.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.deepEqual(raw.layers.map((l: { mediaType: string }) => l.mediaType), Array(3).fill('application/vnd.docker.image.rootfs.diff.tar.gzip'));
  });

  it('errors: a missing blob is named, a diffID that does not match its blob is refused, a bad name, a platform twice', async () => {
    const r1 = run(process.execPath, [CLI, 'image', bb.dir, '--record', '4', '--dest', join(tmp, 'x'), '--name', 'Bad']);
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /invalid reference format: repository name \(library\/Bad\) must be lowercase/);
    const r2 = run(process.execPath, [CLI, 'image', bb.dir, '--record', '4', '--dest', join(tmp, 'x'), '--platform', 'linux/amd64', '--platform', 'linux/arm64']);
    assert.match(r2.stderr, /platform given twice/);
    const r3 = run(process.execPath, [CLI, 'image', bb.dir, '--record', '4', '--dest', join(tmp, 'x'), '--config', configFile, '--platform', 'linux/arm64']);
    assert.match(r3.stderr, /platform given twice: --platform linux\/arm64 but the file .* config says linux\/amd64/);
    const r4 = run(process.execPath, [CLI, 'image', bb.dir, '--record', '4', '--dest', join(tmp, 'x'), '--config', join(bb.dir, 'index.json')]);
    assert.match(r4.stderr, /not an image config/);
  });

  it('a diffID that does not match its blob is refused, naming the layer; --trust-diffids takes the annotation', async () => {
    const opened = await openCacheSource(bb.dir);
    const top = opened.model.graph.resolutions[bb.resultRecord].stack.at(-1)!;
    const d = opened.model.descriptors.get(opened.model.norm.layers[top].blob)!;
    const wrong = `sha256:${'0'.repeat(64)}`;
    d.annotations = { ...d.annotations, 'containerd.io/uncompressed': wrong };
    await assert.rejects(
      exportImage(opened, { selection: { kind: 'record', index: bb.resultRecord }, destination: { kind: 'folder', dir: join(tmp, 'mismatch'), tag: 't' } }),
      new RegExp(`layer 2 \\(blob ${d.digest}\\): diffID mismatch: containerd.io/uncompressed says ${wrong}, the decompressed blob hashes to ${bb.diffIDs[2]}`),
    );
    const trusted = await exportImage(opened, { selection: { kind: 'record', index: bb.resultRecord }, destination: { kind: 'folder', dir: join(tmp, 'trusted'), tag: 't' }, trustDiffIDs: true });
    assert.equal(trusted.diffIDs[2], wrong);
  });

  it('remembers diffIDs of unchanged files: a second export hashes nothing, a changed file is hashed again', async () => {
    const dir = join(tmp, 'memo-cache');
    const c = await writeBusyboxCache(dir);
    // Files written within the last 2 s are never remembered (racy timestamps): age them.
    const old = new Date(Date.now() - 60_000);
    for (const f of await readdir(join(dir, 'blobs', 'sha256'))) await utimes(join(dir, 'blobs', 'sha256', f), old, old);
    const real = createVerifyMemo(join(tmp, 'memo'));
    let hits = 0;
    const memo: VerifyMemo = { dir: real.dir, known: async (k, d) => ((await real.known(k, d)) ? (hits++, true) : false), remember: (k, d, t) => real.remember(k, d, t) };
    const exp = async (n: number) => exportImage(await openCacheSource(dir), { selection: { kind: 'record', index: c.resultRecord }, destination: { kind: 'docker-archive', file: join(tmp, `memo-${n}.tar`) }, diffIDMemo: memo });
    const first = await exp(1);
    assert.equal(hits, 0);
    const second = await exp(2);
    assert.equal(hits, 3);
    assert.deepEqual(second.diffIDs, first.diffIDs);
    // A new link changes nothing in the bytes but is a new ctime: hashed again, and right.
    const blob = (await openCacheSource(dir)).model.norm.layers[0].blob;
    await link(join(dir, 'blobs', 'sha256', blob.slice(7)), join(tmp, 'memo-extra-link'));
    hits = 0;
    assert.deepEqual((await exp(3)).diffIDs, c.diffIDs);
    assert.equal(hits, 2);
  });

  it('a layer that does not decompress is named with its codec (large layers are hashed in workers, small ones here)', async () => {
    const dir = join(tmp, 'truncated');
    const c = await writeBusyboxCache(dir);
    const opened = await openCacheSource(dir);
    const stack = opened.model.graph.resolutions[c.resultRecord].stack;
    for (const k of [0, 2]) {
      // Replaced, never written in place: the cut gzip stream ends early.
      const blob = opened.model.norm.layers[stack[k]].blob;
      const file = join(dir, 'blobs', 'sha256', blob.slice(7));
      const bytes = await readFile(file);
      await rm(file);
      await writeFile(file, bytes.subarray(0, bytes.length - 40));
      const again = await openCacheSource(dir);
      again.model.descriptors.get(blob)!.size = bytes.length - 40;
      await assert.rejects(
        exportImage(again, { selection: { kind: 'record', index: c.resultRecord }, destination: { kind: 'folder', dir: join(tmp, `truncated-out-${k}`), tag: 't' }, diffIDMemo: null }),
        new RegExp(`layer ${k} \\(blob ${blob}\\): cannot decompress it as gzip: unexpected end of file`),
      );
      await rm(file);
      await writeFile(file, bytes);
    }
  });

  it('a chain with a missing blob is refused, naming the blob and its place, and writes no image', async () => {
    const dir = join(tmp, 'missing');
    const c = await writeBusyboxCache(dir);
    const opened = await openCacheSource(dir);
    const blob = opened.model.norm.layers[1].blob;
    await rm(join(dir, 'blobs', 'sha256', blob.slice(7)));
    const r = run(process.execPath, [CLI, 'image', dir, '--record', String(c.resultRecord), '--dest', join(tmp, 'missing-out')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`layer 1 of the chain \\(layer entry 1, blob ${blob}\\) is not available: .*drop-missing cannot apply`));
    assert.equal(run('test', ['-e', join(tmp, 'missing-out', 'index.json')]).status, 1);
  });
});

/**
 * A record's subgraph as digests and input structure, dependencies first (indexes replaced by digests),
 * with each record's result as blobs when it is a prefix of `image` (inline cache can only refer to the
 * image's own layers, so a result of another stage is left out on both sides).
 */
function keys(opened: OpenedSource, target: number, image: string[]): unknown[] {
  const { records } = opened.model.norm;
  const seen = new Set<number>();
  const out: unknown[] = [];
  const visit = (r: number): string => {
    const rec = records[r];
    const inputs = rec.inputs.map((slot) => slot.map((i) => ({ selector: i.selector, from: visit(i.link) })));
    if (!seen.has(r)) {
      seen.add(r);
      const blobs = opened.model.graph.resolutions[r].stack.map((i) => opened.model.norm.layers[i].blob);
      out.push({ digest: rec.digest, inputs, result: blobs.every((b, k) => image[k] === b) ? blobs : [] });
    }
    return rec.digest;
  };
  visit(target);
  return out;
}

describe('--inline-cache on a generated cache whose slots have several alternatives', () => {
  it('the result\'s image carries exactly its subgraph, every alternative of every slot included', async () => {
    const dir = join(tmp, 'generated');
    await generateCache(dir, { seed: 'image-inline-alternatives', stages: 3, layersPerStage: 4, layerBytes: 2048, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    const opened = await openCacheSource(dir);
    const { records } = opened.model.norm;
    // The final results whose subgraph holds a slot with more than one alternative (the content-based COPY).
    const reach = (r: number, seen = new Set<number>()): Set<number> => {
      if (!seen.has(r)) {
        seen.add(r);
        for (const slot of records[r].inputs) for (const i of slot) reach(i.link, seen);
      }
      return seen;
    };
    const finals = opened.model.graph.resolutions.flatMap((r, i) => (r.stack.length > 0 && opened.model.graph.dependents[i].length === 0 ? [i] : []));
    const withAlternatives = finals.filter((f) => [...reach(f)].some((r) => records[r].inputs.some((slot) => slot.length > 1)));
    assert.ok(withAlternatives.length > 0, `a final result reaches a slot with several alternatives (finals: ${finals.join(', ')})`);
    for (const rec of withAlternatives) {
      const dest = join(tmp, `generated-${rec}`);
      const { result } = cli(dir, ['--record', String(rec), '--dest', `${dest}:t`, '--inline-cache']);
      const back = await openCacheSource(`${dest}:t`);
      const top = back.model.norm.records.findIndex((r) => r.digest === records[rec].digest);
      assert.ok(top >= 0, `record ${rec} is in the inline cache`);
      const image = opened.model.graph.resolutions[rec].stack.map((i) => opened.model.norm.layers[i].blob);
      const subgraph = keys(opened, rec, image);
      assert.deepEqual(keys(back, top, image), subgraph, `record ${rec}`);
      assert.equal(back.model.norm.records.length, subgraph.length, `record ${rec}: records read back`);
      assert.equal(result.inlineRecords, subgraph.length, `record ${rec}: records written`);
      const slots = back.model.norm.records.flatMap((r) => r.inputs.filter((slot) => slot.length > 1));
      assert.ok(slots.length > 0, `record ${rec}: a slot with several alternatives reads back`);
      assert.deepEqual(back.model.graph.resolutions[top].stack.map((i) => back.model.norm.layers[i].blob), image, `record ${rec}: the whole image`);
    }
  });
});

describe('--inline-cache on real BuildKit caches', () => {
  const fixtures = ['buildkit-v0.24-index-gzip', 'buildkit-v0.24-image-manifest-gzip', 'buildkit-v0.24-mixed-gzip-zstd', 'buildkit-v0.24-mode-min', 'buildkit-v0.24-docker-list-gzip', 'buildkit-v0.24-uncompressed', 'buildkit-v0.24-estargz'];
  for (const name of fixtures) {
    it(`${name}: every result's image carries exactly its subgraph`, async () => {
      const dir = join(FIXTURES, name);
      const opened = await openCacheSource(dir);
      const results = opened.model.graph.resolutions.flatMap((r, i) => (r.stack.length > 0 ? [i] : []));
      const finals = results.filter((i) => opened.model.graph.dependents[i].length === 0);
      assert.ok(finals.length > 0);
      // A final result reaches every record of these caches; an earlier stage's result reaches fewer.
      assert.ok(results.length > finals.length, 'the cache has results before the final one');
      for (const rec of results) {
        const dest = join(tmp, `${name}-${rec}`);
        // The final results through the CLI, the earlier ones through the engine (quicker: one process).
        if (finals.includes(rec)) cli(dir, ['--record', String(rec), '--dest', `${dest}:t`, '--inline-cache']);
        else await exportImage(opened, { selection: { kind: 'record', index: rec }, destination: { kind: 'folder', dir: dest, tag: 't' }, inlineCache: true, diffIDMemo: null });
        const back = await openCacheSource(`${dest}:t`);
        const top = back.model.norm.records.findIndex((r) => r.digest === opened.model.norm.records[rec].digest);
        assert.ok(top >= 0, `record ${rec} is in the inline cache`);
        const image = opened.model.graph.resolutions[rec].stack.map((i) => opened.model.norm.layers[i].blob);
        const subgraph = keys(opened, rec, image);
        assert.deepEqual(keys(back, top, image), subgraph, `record ${rec}`);
        // Exactly the subgraph: no record that the result does not need.
        assert.equal(back.model.norm.records.length, subgraph.length, `record ${rec}: records read back`);
        assert.deepEqual(back.model.graph.resolutions[top].stack.map((i) => back.model.norm.layers[i].blob), image, `record ${rec}: the whole image`);
        const files = await readdir(join(dest, 'blobs', 'sha256'));
        assert.equal(files.length, new Set(image).size + 2, `record ${rec}: the layers, the config and the manifest`);
      }
    });
  }
});
