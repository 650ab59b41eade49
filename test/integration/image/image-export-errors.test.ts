/**
 * The image export's errors as a user meets them: the CLI's messages name the bad name (which of the
 * list) and the repeated --platform, exit 1 and write nothing; a chain whose layer has no descriptor
 * or no blob is refused naming the layer, its entry and its blob (drop-missing cannot apply), by the
 * engine and in the GUI's preview and job.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createImageExportHandlers } from '../../../electron/engine/export/image-export-jobs';
import { exportImage } from '../../../electron/engine/export/image-export';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { Events } from '../../../shared/contract/index';
import { REPO } from '../../helpers/fixtures';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const CLI = join(REPO, 'bin', 'cachescope.mjs');

let tmp: string;
let bb: BusyboxCache;

function cli(args: string[], dir = bb.dir) {
  const r = spawnSync(process.execPath, [CLI, 'image', dir, '--record', String(bb.resultRecord), ...args], { encoding: 'utf8', input: '', env: { ...process.env, CACHESCOPE_CLI: 'source', XDG_CACHE_HOME: join(tmp, 'xdg') }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Rewrites the cache's manifest so layer `k` claims `diffID` as its containerd.io/uncompressed (index.json follows). */
async function claimDiffID(dir: string, k: number, diffID: string): Promise<string> {
  const indexFile = join(dir, 'index.json');
  const index = JSON.parse(await readFile(indexFile, 'utf8'));
  const blob = (d: string) => join(dir, 'blobs', 'sha256', d.slice(7));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
  manifest.layers[k].annotations['containerd.io/uncompressed'] = diffID;
  const bytes = Buffer.from(JSON.stringify(manifest));
  await writeFile(blob(sha256(bytes)), bytes);
  index.manifests[0] = { ...index.manifests[0], digest: sha256(bytes), size: bytes.length };
  await writeFile(indexFile, JSON.stringify(index));
  return manifest.layers[k].digest as string;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-errors-'));
  process.env.XDG_CACHE_HOME = join(tmp, 'xdg');
  bb = await writeBusyboxCache(join(tmp, 'cache'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('cachescope image: errors name what is wrong', () => {
  it('an unparseable name: which one, with docker\'s text; exit 1; no image', async () => {
    const dest = join(tmp, 'bad-name');
    const one = cli(['--dest', dest, '--name', 'a b']);
    assert.equal(one.status, 1);
    assert.equal(one.stderr.trim(), 'cachescope image: name "a b": invalid reference format');
    const second = cli(['--dest', dest, '--name', 'app,Bad:1']);
    assert.equal(second.status, 1);
    assert.equal(second.stderr.trim(), 'cachescope image: name 2 of 2 ("Bad:1"): invalid reference format: repository name (library/Bad) must be lowercase');
    assert.equal(await exists(dest), false);
  });

  it('a platform given twice: exit 1 before anything is written', async () => {
    const dest = join(tmp, 'twice');
    const r = cli(['--dest', dest, '--platform', 'linux/amd64', '--platform', 'linux/arm64']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /platform given twice: --platform may be given once/);
    assert.equal(r.stdout, '');
    assert.equal(await exists(dest), false);
  });

  it('a destination or a config given twice is refused, not silently overridden; nothing is written', async () => {
    const first = join(tmp, 'dest-one');
    const second = join(tmp, 'dest-two');
    const dests = cli(['--dest', first, '--dest', second]);
    assert.equal(dests.status, 1);
    assert.match(dests.stderr, new RegExp(`--dest given twice: an image export writes to one destination \\(got "${second.replace(/[/\\.-]/g, '\\$&')}" after another\\)`));
    assert.equal(await exists(first), false);
    assert.equal(await exists(second), false);
    const configs = cli(['--dest', first, '--config', join(tmp, 'a.json'), '--config', join(tmp, 'b.json')]);
    assert.equal(configs.status, 1);
    assert.match(configs.stderr, /--config given twice: an image starts from one config/);
    assert.equal(await exists(first), false);
  });
});

describe('a diffID that does not match its blob', () => {
  it('the CLI refuses it naming the layer and both digests; --trust-diffids takes the annotation, as asked', async () => {
    const dir = join(tmp, 'wrong-diffid');
    const c = await writeBusyboxCache(dir);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const layer = await claimDiffID(dir, 2, wrong);
    const dest = join(tmp, 'wrong-diffid-out');
    const r = cli(['--dest', `${dest}:t`], dir);
    assert.equal(r.status, 1);
    // Progress goes to stderr first (`exporting layers`); the error is the last line.
    assert.equal(r.stderr.trim().split('\n').at(-1), `cachescope image: layer 2 (blob ${layer}): diffID mismatch: containerd.io/uncompressed says ${wrong}, the decompressed blob hashes to ${c.diffIDs[2]}`);
    assert.equal(await exists(join(dest, 'index.json')), false);
    const trusted = cli(['--dest', `${dest}:t`, '--trust-diffids', '--json'], dir);
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.deepEqual(JSON.parse(trusted.stdout.trim().split('\n').at(-1)!).diffIDs, [...c.diffIDs.slice(0, 2), wrong]);
  });

  it('a converted layer (force-compression) is refused the same way, naming the layer', async () => {
    const opened = await openCacheSource(bb.dir);
    const top = opened.model.graph.resolutions[bb.resultRecord].stack.at(-1)!;
    const d = opened.model.descriptors.get(opened.model.norm.layers[top].blob)!;
    const wrong = `sha256:${'1'.repeat(64)}`;
    d.annotations = { ...d.annotations, 'containerd.io/uncompressed': wrong };
    const dest = join(tmp, 'wrong-diffid-zstd');
    await assert.rejects(
      exportImage(opened, { selection: { kind: 'record', index: bb.resultRecord }, destination: { kind: 'folder', dir: dest, tag: 't' }, layerOptions: { compression: 'zstd', 'force-compression': true }, diffIDMemo: null }),
      (err: Error) => err.message.startsWith(`layer 2 (blob ${d.digest}): diffID mismatch: `) && err.message.includes(wrong) && err.message.includes(bb.diffIDs[2]),
    );
    assert.equal(await exists(join(dest, 'index.json')), false);
  });
});

describe('a chain with a missing layer', () => {
  it('no descriptor for a layer: refused naming the layer, its entry and its blob; drop-missing cannot apply', async () => {
    const opened = await openCacheSource(bb.dir);
    const blob = opened.model.norm.layers[1].blob;
    opened.model.descriptors.delete(blob);
    const dest = join(tmp, 'no-descriptor');
    await assert.rejects(
      exportImage(opened, { selection: { kind: 'record', index: bb.resultRecord }, destination: { kind: 'folder', dir: dest, tag: 't' }, diffIDMemo: null }),
      (err: Error) => err.message === `layer 1 of the chain (layer entry 1, blob ${blob}) has no descriptor in the cache's manifest, so its media type and size are unknown; an image needs every layer (drop-missing cannot apply)`,
    );
    assert.equal(await exists(join(dest, 'index.json')), false);
  });

  it('the GUI: the preview names the missing blob, and a started job fails with the same layer named', async () => {
    const dir = join(tmp, 'missing-blob');
    const c = await writeBusyboxCache(dir);
    const first = await openCacheSource(dir);
    const blob = first.model.norm.layers[2].blob;
    await rm(join(dir, 'blobs', 'sha256', blob.slice(7)));
    const opened = await openCacheSource(dir);
    const events: { name: string; payload: unknown }[] = [];
    const handlers = createImageExportHandlers({ opened: () => opened, emit: (name, payload) => events.push({ name, payload }), progressEveryMs: 0 });
    const preview = await handlers.previewImageExport({ cacheId: 'c', selection: { record: c.resultRecord } });
    assert.equal(preview.chain.length, 3, 'the chain is still shown');
    assert.deepEqual(preview.chain.map((l) => l.present), [true, true, false]);
    assert.equal(preview.error, `layer 2 of the chain (layer entry 2, blob ${blob}) is not available; an image needs every layer (drop-missing cannot apply)`);
    const dest = join(tmp, 'missing-blob-out');
    const { jobId } = await handlers.startImageExport({ cacheId: 'c', selection: { record: c.resultRecord }, dest: `${dest}:t` });
    await handlers.settled(jobId);
    const finished = events.find((e) => e.name === 'imageExportFinished')!.payload as Events['imageExportFinished'];
    assert.equal(finished.ok, false);
    assert.match(!finished.ok ? finished.error.message : '', new RegExp(`^layer 2 of the chain \\(layer entry 2, blob ${blob}\\) is not available: .*drop-missing cannot apply`));
    assert.equal(await exists(join(dest, 'index.json')), false);
  });
});
