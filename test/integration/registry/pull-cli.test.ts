/**
 * `cachescope export <registry ref> DIR` on a terminal and with --json: a registry reference is
 * pulled (not taken for a path), each layer's line ends `done`, a second pull says the layers came
 * from the blob cache, and --json carries the per-layer states and origins.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { main } from '../../../electron/cli/main';
import type { CommandIo } from '../../../electron/cli/io';
import { FIXTURES } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';
import { assertAllBlobsVerified, taggedManifest } from './pull-helpers';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
let registry: RunningRegistry;
let work: string;
const saved = { cache: process.env.CACHESCOPE_CACHE_DIR, xdg: process.env.XDG_CACHE_HOME };

before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'cachescope-pull-cli-'));
  process.env.CACHESCOPE_CACHE_DIR = join(work, 'cache');
  process.env.XDG_CACHE_HOME = join(work, 'xdg');
  await pushFixture(registry, FIXTURE, 'pull/cli:cache');
});

after(async () => {
  process.env.CACHESCOPE_CACHE_DIR = saved.cache;
  process.env.XDG_CACHE_HOME = saved.xdg;
  if (saved.cache === undefined) delete process.env.CACHESCOPE_CACHE_DIR;
  if (saved.xdg === undefined) delete process.env.XDG_CACHE_HOME;
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function capture(isTty: boolean): CommandIo & { out: (t: string) => void; text: () => string; lines: string[]; errs: string[] } {
  const lines: string[] = [];
  const errs: string[] = [];
  return { isTty, lines, errs, out: (t) => lines.push(t), err: (t) => errs.push(t), text: () => lines.join('\n') };
}

/** The last frame the terminal shows for each layer (the renderer redraws lines in place). */
function lastFrame(text: string, digests: string[]): Map<string, string> {
  const frame = new Map<string, string>();
  for (const raw of text.split(/\n|\x1b\[\d+A/)) {
    const line = raw.replace(/\x1b\[2K/g, '');
    const d = digests.find((x) => line.startsWith(x.slice(0, 19)));
    if (d) frame.set(d, line);
  }
  return frame;
}

it('pulls a registry cache on a terminal: every layer ends done; a second pull takes them from the blob cache', async () => {
  const layers = (layoutManifest(FIXTURE).json.layers as { digest: string }[]).map((l) => l.digest);
  const source = `${registry.host}/pull/cli:cache`;
  const first = capture(true);
  assert.equal(await main(['export', source, join(work, 'a')], first), 0, first.errs.join('\n'));
  const frame1 = lastFrame(first.text(), layers);
  assert.equal(frame1.size, new Set(layers).size);
  for (const line of frame1.values()) {
    assert.match(line, /^sha256:[0-9a-f]{12}\s+done\s+\[#+\] 100%/);
    assert.doesNotMatch(line, /from blob cache/);
  }
  assert.match(first.text(), /exported sha256:[0-9a-f]{64} \(application\/vnd\.oci\.image\.manifest\.v1\+json\) to /);
  assert.ok(await taggedManifest(join(work, 'a')));

  const second = capture(true);
  assert.equal(await main(['export', source, join(work, 'b')], second), 0, second.errs.join('\n'));
  for (const line of lastFrame(second.text(), layers).values()) assert.match(line, /done .*\(from blob cache\)$/);

  const json = capture(false);
  assert.equal(await main(['export', source, join(work, 'c'), '--json'], json), 0, json.errs.join('\n'));
  const events = json.lines.map((l) => JSON.parse(l) as { event: string; layers?: { blob: string; state: string; origin?: string }[] });
  const last = events.filter((e) => e.event === 'exportProgress').at(-1)!;
  assert.deepEqual(new Set(last.layers!.map((l) => `${l.state}/${l.origin}`)), new Set(['done/cached']));
  assert.equal(events.at(-1)!.event, 'exportFinished');
  await assertAllBlobsVerified(join(work, 'c'));
  await assertAllBlobsVerified(join(work, 'cache', 'blobs'));
});
