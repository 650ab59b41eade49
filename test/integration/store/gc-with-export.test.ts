/**
 * gc and export as real processes on the same folder (the CLI, bin/cachescope.mjs):
 *  - `gc` runs in a loop while a slow export (zstd level 19, many layers) writes a new tag: the
 *    export succeeds, its result verifies, and no gc deleted a blob the export leased;
 *  - an export SIGKILLed mid-conversion leaves ingest files and a lease; the next gc removes both,
 *    and the blobs only that export had written.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { Descriptor, ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { REPO } from '../../helpers/fixtures';
import { generate, hashFile, meaning } from '../../unit/export/export-helpers';

const CLI = join(REPO, 'bin', 'cachescope.mjs');
/** zstd -19 over ~20 MB of layers: several seconds of conversion, many gc runs inside it. */
const LEVEL = 19;

let tmp: string;
let src: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-gc-export-'));
  src = join(tmp, 'src');
  await generate(src, { seed: 23, stages: 4, layersPerStage: 5, layerBytes: 1_000_000 });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    pending += c;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine?.(line, () => child.kill('SIGKILL'));
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

function exportArgs(dest: string, tag: string, level = LEVEL): string[] {
  return ['export', src, dest, '--opt', 'compression=zstd', '--opt', 'force-compression=true', '--opt', `compression-level=${level}`, '--opt', `tag=${tag}`, '--json'];
}

interface GcJson {
  deleted: { digest: string }[];
  leased: { digest: string }[];
  ingest: string[];
  leases: { live: number; expired: number };
}

/** Layers in state `done` in one JSON progress event, or null for other lines. */
function doneIn(line: string): number | null {
  try {
    const e = JSON.parse(line) as { event?: string; layers?: { state: string }[] };
    return e.event === 'exportProgress' && e.layers ? e.layers.filter((l) => l.state === 'done').length : null;
  } catch {
    return null;
  }
}

const blobPath = (dir: string, d: string) => join(dir, 'blobs', 'sha256', d.slice('sha256:'.length));

/** Everything the tag reaches, each blob hashed: the export's result verifies. */
async function verifyTag(dir: string, tag: string): Promise<Set<string>> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.ok(entry, `index.json has the tag ${tag}`);
  const m = JSON.parse(await readFile(blobPath(dir, entry.digest), 'utf8')) as ImageManifest;
  const all: Descriptor[] = [entry, m.config, ...(m.layers ?? [])];
  for (const d of all) assert.equal(await hashFile(blobPath(dir, d.digest)), d.digest, `${tag}: ${d.digest} is present and complete`);
  return new Set(all.map((d) => d.digest));
}

describe('gc while an export runs (real processes)', () => {
  it('gc in a loop during a slow zstd export: the export succeeds and verifies, no leased blob is deleted', async () => {
    const dest = join(tmp, 'dest');
    // An existing layout with a tag, as in the report: gc has an index.json to work from.
    const first = await cli(['export', src, dest, '--json']);
    assert.equal(first.code, 0, first.stderr);

    const reports: { report: GcJson; duringExport: boolean }[] = [];
    const reached = new Set<string>();
    const tags: string[] = [];
    let layersDone = 0;
    const during = () => reports.filter((r) => r.duringExport);
    const leasedSeen = () => new Set(during().flatMap((r) => r.report.leased.map((d) => d.digest)));
    // The proof needs overlap: gc runs that found an export's blobs in flight and kept them. A machine
    // that converts everything between two gc starts gets another export (a new tag and level, so new
    // blobs to lease), up to four: a fast machine costs an export, not a failure.
    for (let attempt = 0; attempt < 4 && (during().length < 2 || leasedSeen().size === 0); attempt++) {
      const tag = attempt === 0 ? 'zstd' : `zstd-${attempt}`;
      let exporting = true;
      const loop = (async () => {
        while (exporting) {
          const startedDuring = exporting;
          const r = await cli(['gc', dest, '--json']);
          assert.equal(r.code, 0, `gc failed: ${r.stderr}`);
          reports.push({ report: JSON.parse(r.stdout) as GcJson, duringExport: startedDuring && exporting });
        }
      })();
      const exp = await cli(exportArgs(dest, tag, LEVEL - 2 * attempt), (line) => {
        layersDone = Math.max(layersDone, doneIn(line) ?? 0);
      }).finally(() => (exporting = false));
      await loop;

      assert.equal(exp.code, 0, `export failed: ${exp.stderr}\n${exp.stdout.slice(-400)}`);
      const final = JSON.parse(exp.stdout.trim().split('\n').at(-1)!) as { ok: boolean; 'cache.manifest': Descriptor };
      assert.ok(final.ok);
      for (const d of await verifyTag(dest, tag)) reached.add(d);
      tags.push(tag);
    }
    // Every tag written still verifies after all the gc runs, and means what the source means.
    for (const tag of tags) await verifyTag(dest, tag);
    await verifyTag(dest, 'latest');
    const back = await openCacheSource(`${dest}:zstd`);
    assert.deepEqual(meaning(back), meaning(await openCacheSource(src)), 'the new tag means what the source means');

    const deleted = new Set(reports.flatMap((r) => r.report.deleted.map((d) => d.digest)));
    console.log(`gc with export: ${tags.length} export(s), ${reports.length} gc runs, ${during().length} during an export, ${leasedSeen().size} leased blobs kept, ${deleted.size} deleted; ${layersDone} layers converted`);
    assert.ok(during().length >= 2, `only ${during().length} gc runs overlapped ${tags.length} exports; make the export slower`);
    assert.ok(leasedSeen().size > 0, 'some gc run saw converted blobs not yet tagged, held by the lease');
    for (const d of reached) assert.ok(!deleted.has(d), `gc deleted ${d}, which an export needed`);
    assert.deepEqual(await readdir(join(dest, '.cachescope', 'leases')), [], 'the export released its lease');
  });

  it('an export SIGKILLed mid-conversion leaves ingest files and a lease; the next gc removes them and its untagged blobs', async () => {
    const dest = join(tmp, 'killed');
    const first = await cli(['export', src, dest, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const before = new Set(await readdir(join(dest, 'blobs', 'sha256')));
    // Kill once two layers are done and a conversion is writing into ingest/ at that moment, so the
    // kill surely leaves a partial file (on a loaded machine a lane may be between layers).
    const ingestDir = join(dest, 'ingest');
    const killed = await cli(exportArgs(dest, 'zstd'), (line, kill) => {
      if ((doneIn(line) ?? 0) >= 2 && existsSync(ingestDir) && readdirSync(ingestDir).some((n) => n.startsWith('cachescope-'))) kill();
    });
    assert.equal(killed.signal, 'SIGKILL', `the export ended before the kill: ${killed.stdout.slice(-300)}`);
    const ingest = await readdir(join(dest, 'ingest'));
    assert.ok(ingest.length > 0, 'the killed export left files in ingest/');
    assert.equal((await readdir(join(dest, '.cachescope', 'leases'))).filter((n) => n.endsWith('.json')).length, 1, 'and its lease');
    const written = (await readdir(join(dest, 'blobs', 'sha256'))).filter((n) => !before.has(n));
    assert.ok(written.length >= 2, 'it had committed converted layers');

    const gc = await cli(['gc', dest, '--json']);
    assert.equal(gc.code, 0, gc.stderr);
    const report = JSON.parse(gc.stdout) as GcJson;
    assert.deepEqual(report.ingest.sort(), ingest.sort());
    assert.deepEqual(report.leases, { live: 0, expired: 1 });
    assert.deepEqual(await readdir(join(dest, 'ingest')), []);
    assert.deepEqual(await readdir(join(dest, '.cachescope', 'leases')), []);
    assert.deepEqual(report.deleted.map((d) => d.digest.slice(7)).sort(), written.sort(), 'exactly the untagged blobs of the killed export');
    await verifyTag(dest, 'latest');
  });
});
