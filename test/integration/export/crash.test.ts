/**
 * Crash safety: the CLI export is SIGKILLed at 20 random moments while it converts a few-MB cache;
 * after every kill the folder must be a valid layout whose index.json references only complete,
 * verified blobs (every blob hashed), with no partial file under blobs/; then a re-run completes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCacheSource } from '../../../electron/engine/open-cache';
import { MediaType } from '../../../shared/oci/media-types';
import type { Descriptor, ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { REPO } from '../../helpers/fixtures';
import { generate, hashFile, meaning } from '../../unit/export/export-helpers';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const KILLS = 20;
/** zstd -19: about a second of conversion for this cache, a wide target for the kills. */
const LEVEL = 19;
const BUDGET_MS = 55_000;

let tmp: string;
let src: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-crash-'));
  src = join(tmp, 'src');
  await generate(src, { seed: 41, stages: 2, layersPerStage: 3, layerBytes: 1_000_000 });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** mulberry32: the kill moments are random but reproducible from the printed seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  ms: number;
}

function exportCli(dest: string, level: number, killAfterMs: number | null): Promise<RunOutcome> {
  const args = [CLI, 'export', src, dest, '--opt', 'compression=zstd', '--opt', 'force-compression=true', '--opt', `compression-level=${level}`, '--json'];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.resume();
  const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, ms: performance.now() - t0 });
    });
  });
}

/** A valid layout whose index.json reaches only complete blobs, and nothing partial under blobs/. */
async function checkLayout(dir: string): Promise<{ manifests: number; blobs: number }> {
  assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
  assert.equal(index.schemaVersion, 2);
  const blobPath = (d: string) => join(dir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const checkBlob = async (d: Descriptor, what: string) => {
    assert.equal(await hashFile(blobPath(d.digest)), d.digest, `${what} ${d.digest} is not complete`);
  };
  for (const entry of index.manifests) {
    await checkBlob(entry, 'manifest');
    const m = JSON.parse(await readFile(blobPath(entry.digest), 'utf8')) as ImageManifest;
    assert.equal(m.mediaType, MediaType.ociManifest);
    await checkBlob(m.config, 'config');
    for (const l of m.layers ?? []) await checkBlob(l, 'layer');
  }
  const names = await readdir(join(dir, 'blobs', 'sha256'));
  for (const name of names) assert.equal(await hashFile(join(dir, 'blobs', 'sha256', name)), `sha256:${name}`, `partial blob ${name} under blobs/`);
  return { manifests: index.manifests.length, blobs: names.length };
}

describe('export crash safety (SIGKILL)', () => {
  it(`survives ${KILLS} SIGKILLs at random moments, then a re-run completes reusing finished blobs`, async () => {
    const started = performance.now();
    const dest = join(tmp, 'dest');
    // A completed export first, so there is an index.json that must stay valid.
    const first = await exportCli(dest, 1, null);
    assert.equal(first.code, 0, first.stdout);
    await checkLayout(dest);
    // How long a full conversion takes here (process start included), to aim the kills.
    const probe = await exportCli(join(tmp, 'probe'), LEVEL, null);
    assert.equal(probe.code, 0);
    const seed = Number(process.env.CACHESCOPE_CRASH_SEED ?? Date.now() % 100_000);
    const random = rng(seed);
    let interrupted = 0;
    let midLayers = 0;
    let lastKilledDone = 0;
    for (let i = 0; i < KILLS && performance.now() - started < BUDGET_MS; i++) {
      // Forget the converted variants (labels only; blobs/ and index.json untouched) so that every
      // run converts again and each kill lands in real work instead of a quick no-op re-run.
      await rm(join(dest, '.cachescope'), { recursive: true, force: true });
      const delay = Math.round(100 + random() * probe.ms * 0.9);
      const r = await exportCli(dest, LEVEL, delay);
      if (r.signal === 'SIGKILL') {
        interrupted++;
        const events = r.stdout.split('\n').filter(Boolean);
        if (events.length > 0 && !events.at(-1)!.includes('writing cache image manifest')) midLayers++;
        // Layers the killed run reported done (a torn last line means nothing was reported then).
        lastKilledDone = 0;
        for (const line of events) {
          try {
            lastKilledDone = (JSON.parse(line) as { layers?: { state: string }[] }).layers?.filter((l) => l.state === 'done').length ?? lastKilledDone;
          } catch {
            // SIGKILL can cut the last line short.
          }
        }
      } else {
        assert.equal(r.code, 0, `run ${i} failed: ${r.stdout.slice(-500)}`);
      }
      await checkLayout(dest);
    }
    console.log(`crash test: seed ${seed}, ${interrupted} of ${KILLS} runs killed (${midLayers} while writing layers), ${Math.round(performance.now() - started)} ms`);
    assert.ok(interrupted >= KILLS / 2, `only ${interrupted} kills landed inside an export; the test proves little (seed ${seed})`);
    // The re-run completes, and finds what the last killed run had finished (labels kept this time).
    const again = await exportCli(dest, LEVEL, null);
    assert.equal(again.code, 0, again.stdout.slice(-500));
    const final = JSON.parse(again.stdout.trim().split('\n').at(-1)!) as { ok: boolean; 'cache.manifest': Descriptor; result: { counts: Record<string, number> } };
    assert.ok(final.ok);
    console.log(`crash test: re-run counts ${JSON.stringify(final.result.counts)} (the last killed run had finished ${lastKilledDone} layers)`);
    assert.ok(final.result.counts.exists >= lastKilledDone, 'layers finished before the last kill are reused, not converted again');
    await checkLayout(dest);
    const back = await openCacheSource(dest);
    assert.equal(back.manifestDescriptor!.digest, final['cache.manifest'].digest);
    assert.deepEqual(meaning(back), meaning(await openCacheSource(src)));
    assert.ok(performance.now() - started < 70_000, 'the crash test must stay bounded');
  });
});
