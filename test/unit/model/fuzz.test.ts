/**
 * Hard inputs: fast-check mutates the REAL fixtures (index.json, cache manifest, cache config, the
 * inline image config, the bare config) and opens each mutant through openCacheSource + viewOf.
 * Every case must end in a valid view or a typed CacheError with a parsing code: never a TypeError,
 * a RangeError (stack overflow), a hang or an unhandled rejection. No clock is read: a hang is caught
 * by the suite's timeout, never by timing a case (speed is for bench/, not for tests).
 *
 * CACHESCOPE_FUZZ_SEED picks another seed; CACHESCOPE_FUZZ_SCALE multiplies the number of runs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { CacheError } from '../../../shared/contract/errors';
import type { ErrorCode } from '../../../shared/contract/errors';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { fixture } from '../../helpers/fixtures';

const SEED = Number(process.env.CACHESCOPE_FUZZ_SEED ?? 20260521);
const SCALE = Number(process.env.CACHESCOPE_FUZZ_SCALE ?? 1);
const CONFIG_MT = 'application/vnd.buildkit.cacheconfig.v0';
/** Codes a bad input may end in. `internal` and `io` would mean the code, not the input, failed. */
const PARSE_CODES = new Set<ErrorCode>(['invalid-json', 'invalid-config', 'invalid-manifest', 'invalid-digest', 'missing-blob', 'digest-mismatch', 'size-mismatch', 'too-large', 'unknown-tag', 'invalid-source', 'not-found']);
/** Replaced, in the serialised text, by 100k nested arrays (JSON.stringify itself would overflow building it). */
const DEEP = '__DEEP_NESTING__';
const DEEP_TEXT = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

const root = mkdtempSync(join(tmpdir(), 'cachescope-fuzz-'));
let caseNo = 0;
const stats = { ok: 0, error: 0, byCode: new Map<string, number>() };
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

before(() => process.on('unhandledRejection', onUnhandled));
after(() => {
  process.off('unhandledRejection', onUnhandled);
  rmSync(root, { recursive: true, force: true });
});

const sha256 = (data: string | Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const blobPath = (dir: string, digest: string) => join(dir, 'blobs', ...digest.split(':'));

interface LayoutDocs {
  name: string;
  index: string;
  manifest: string;
  config: string;
}

function loadLayout(name: string, dir: string): LayoutDocs {
  const index = readFileSync(join(dir, 'index.json'), 'utf8');
  const entry = JSON.parse(index).manifests[0];
  const manifest = readFileSync(blobPath(dir, entry.digest), 'utf8');
  const m = JSON.parse(manifest);
  const configDesc = m.config ?? m.manifests.filter((d: { mediaType: string }) => d.mediaType === CONFIG_MT).at(-1);
  return { name, index, manifest, config: readFileSync(blobPath(dir, configDesc.digest), 'utf8') };
}

const LAYOUTS: LayoutDocs[] = [loadLayout('dto', fixture.dto), loadLayout('fullcycle', fixture.fullcycle), loadLayout('drone', fixture.drone), loadLayout('margo', fixture.margo)];
const FILES = [
  { name: 'inline', text: readFileSync(fixture.inlineConfig, 'utf8') },
  { name: 'gitlab', text: readFileSync(fixture.gitlabConfig, 'utf8') },
];

// ---------------------------------------------------------------------------------------------
// Mutations

const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, -2, 1, 7, 99999, 1e300, -1e300, 2 ** 63, -(2 ** 63), 2 ** 53 + 2, 0.5, -0.0, '', 'x', {}, [], [[]], [null], [[null]], { link: -1 }, { layer: 99999, createdAt: 'now' }, { blob: 'sha256:../../etc' }) },
  { weight: 4, arbitrary: fc.constantFrom('sha256:../../etc', '../../../etc/passwd', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}/`, `sha512:${'a'.repeat(128)}`, 'md5:abc', 'random:x', 'sha256:', '0001-01-01T00:00:00Z', '2026-13-40T99:99:99Z', 'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', CONFIG_MT) },
  { weight: 2, arbitrary: fc.integer({ min: -30, max: 30 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.constant(DEEP) },
);

type Edit = { pick: number; op: 'set' | 'delete' | 'wrap' | 'cycle'; value: unknown };
type Mutation = { kind: 'truncate'; at: number } | { kind: 'flip'; flips: { at: number; xor: number }[] } | { kind: 'json'; edits: Edit[] };

const edit: fc.Arbitrary<Edit> = fc.record({ pick: fc.nat(), op: fc.constantFrom<Edit['op']>('set', 'set', 'set', 'delete', 'wrap', 'cycle'), value: hostile });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flip' as const), flips: fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('json' as const), edits: fc.array(edit, { minLength: 1, maxLength: 3 }) }) },
);

type Container = Record<string, unknown> | unknown[];

/** Every (container, key) slot of a JSON value, found iteratively. */
function slots(value: unknown): { parent: Container; key: string | number }[] {
  const out: { parent: Container; key: string | number }[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        stack.push(x);
      });
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push({ parent: v as Record<string, unknown>, key: k });
        stack.push(x);
      }
    }
  }
  return out;
}

function set(parent: Container, key: string | number, value: unknown): void {
  (parent as Record<string | number, unknown>)[key] = value;
}

/** Makes a loop: a record linking to itself, or a layer whose parent is itself or its child. */
function makeCycle(doc: unknown, pick: number): void {
  const d = doc as { records?: { inputs?: { link: number }[][] }[]; layers?: { parent?: number; blob?: string }[] };
  if (Array.isArray(d.records) && d.records.length > 0 && pick % 2 === 0) {
    const i = pick % d.records.length;
    const r = d.records[i];
    if (r && typeof r === 'object') r.inputs = [[{ link: i }]];
    return;
  }
  if (Array.isArray(d.layers) && d.layers.length > 0) {
    const i = pick % d.layers.length;
    const l = d.layers[i];
    if (l && typeof l === 'object') l.parent = pick % 3 === 0 ? i : (i + 1) % d.layers.length;
    const child = d.layers[(i + 1) % d.layers.length];
    if (child && typeof child === 'object' && pick % 3 !== 0) child.parent = i;
  }
}

/** The mutant's bytes (byte flips can make invalid UTF-8, so bytes, not a string). */
function mutate(text: string, m: Mutation): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (m.kind === 'truncate') return bytes.subarray(0, m.at % Math.max(1, bytes.length));
  if (m.kind === 'flip') {
    for (const f of m.flips) bytes[f.at % bytes.length] ^= f.xor;
    return bytes;
  }
  const doc = JSON.parse(text);
  for (const e of m.edits) {
    if (e.op === 'cycle') {
      makeCycle(doc, e.pick);
      continue;
    }
    const all = slots(doc);
    if (all.length === 0) continue;
    const { parent, key } = all[e.pick % all.length];
    if (e.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (e.op === 'wrap') set(parent, key, [(parent as Record<string | number, unknown>)[key]]);
    else set(parent, key, structuredClone(e.value));
  }
  return Buffer.from(JSON.stringify(doc).replaceAll(JSON.stringify(DEEP), DEEP_TEXT), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Writing a mutated layout and opening it

function writeDoc(dir: string, text: string | Buffer): { digest: string; size: number } {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const digest = sha256(bytes);
  writeFileSync(blobPath(dir, digest), bytes);
  return { digest, size: bytes.length };
}

/** Repoints the manifest at a new config (when it still has the shape for it); returns the new manifest text. */
function repointConfig(manifestText: string, config: { digest: string; size: number }): string {
  const m = JSON.parse(manifestText);
  if (m.config) Object.assign(m.config, config);
  else for (const d of m.manifests) if (d.mediaType === CONFIG_MT) Object.assign(d, config);
  return JSON.stringify(m);
}

function repointManifest(indexText: string, manifest: { digest: string; size: number }): string {
  const index = JSON.parse(indexText);
  Object.assign(index.manifests[0], manifest);
  return JSON.stringify(index);
}

type Outcome = { ok: true } | { ok: false; code: ErrorCode };

async function openAndCheck(source: string): Promise<Outcome> {
  try {
    const opened = await openCacheSource(source);
    const view = await viewOf(opened);
    // A valid model is internally consistent and serialisable.
    JSON.stringify(view);
    assert.equal(view.layers.length, opened.model.norm.layers.length);
    assert.equal(view.records.length, opened.model.norm.records.length);
    for (const r of view.records) for (const i of r.stack) assert.ok(i >= 0 && i < view.layers.length, `stack index ${i} out of range`);
    for (const r of view.records) for (const slot of r.inputs) for (const l of slot) assert.ok(l.link >= 0 && l.link < view.records.length);
    stats.ok++;
    return { ok: true };
  } catch (err) {
    if (!(err instanceof CacheError)) throw new Error(`${source}: not a CacheError: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
    assert.ok(PARSE_CODES.has(err.code), `${source}: unexpected code ${err.code}: ${err.message}`);
    assert.ok(err.message.length > 0);
    stats.error++;
    stats.byCode.set(err.code, (stats.byCode.get(err.code) ?? 0) + 1);
    return { ok: false, code: err.code };
  }
}

type Doc = 'index' | 'manifest' | 'config';

/** Writes the layout with one document mutated; `stale` keeps the old name for it (its bytes no longer match). */
function writeMutant(docs: LayoutDocs, which: Doc, m: Mutation, stale: boolean): string {
  const dir = join(root, `case-${++caseNo}`);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const mutant = mutate(docs[which], m);
  const oldName = (text: string) => blobPath(dir, sha256(text));
  let index: string | Buffer = docs.index;
  let manifest: string | Buffer = docs.manifest;
  if (which === 'index') {
    index = mutant;
    writeDoc(dir, docs.manifest);
    writeDoc(dir, docs.config);
  } else if (which === 'manifest') {
    writeDoc(dir, docs.config);
    if (stale) writeFileSync(oldName(docs.manifest), mutant);
    else index = repointManifest(docs.index, writeDoc(dir, mutant));
  } else {
    if (stale) writeFileSync(oldName(docs.config), mutant);
    else manifest = repointConfig(docs.manifest, writeDoc(dir, mutant));
    index = repointManifest(docs.index, writeDoc(dir, manifest));
  }
  writeFileSync(join(dir, 'index.json'), index);
  return dir;
}

/** A fixture by name, so a counterexample prints as a name, not as the fixture's whole text. */
const layout = fc.constantFrom(...LAYOUTS.map((l) => l.name));
const docsOf = (name: string) => LAYOUTS.find((l) => l.name === name)!;

const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

describe('fuzzing the real fixtures', { timeout: 120_000 }, () => {
  it('mutated cache configs (through a repointed manifest)', async () => {
    await fc.assert(
      fc.asyncProperty(layout, mutation, async (name, m) => {
        await openAndCheck(writeMutant(docsOf(name), 'config', m, false));
      }),
      { seed: SEED, numRuns: runs(260) },
    );
  });

  it('mutated cache manifests (through a repointed index.json)', async () => {
    await fc.assert(
      fc.asyncProperty(layout, mutation, async (name, m) => {
        await openAndCheck(writeMutant(docsOf(name), 'manifest', m, false));
      }),
      { seed: SEED + 1, numRuns: runs(130) },
    );
  });

  it('mutated index.json', async () => {
    await fc.assert(
      fc.asyncProperty(layout, mutation, async (name, m) => {
        await openAndCheck(writeMutant(docsOf(name), 'index', m, false));
      }),
      { seed: SEED + 2, numRuns: runs(80) },
    );
  });

  it('mutated bytes under the old name: digest or size mismatch, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(layout, fc.constantFrom<Doc>('manifest', 'config'), mutation, async (name, which, m) => {
        const docs = docsOf(name);
        const before = docs[which];
        const r = await openAndCheck(writeMutant(docs, which, m, true));
        if (!mutate(before, m).equals(Buffer.from(before, 'utf8'))) assert.ok(!r.ok && ['digest-mismatch', 'size-mismatch'].includes(r.code), JSON.stringify(r));
      }),
      { seed: SEED + 3, numRuns: runs(40) },
    );
  });

  it('mutated bare files: the inline-cache image config (and its base64 payload) and the bare cache config', async () => {
    const payload = fc.record({ m: mutation, inner: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...FILES.map((f) => f.name)), payload, async (fileName, { m, inner }) => {
        const f = FILES.find((x) => x.name === fileName)!;
        let text: Buffer;
        if (inner && f.name === 'inline') {
          // Mutate the decoded records, then encode them again: the graph checks run on the payload.
          const image = JSON.parse(f.text);
          const decoded = Buffer.from(image['moby.buildkit.cache.v0'], 'base64').toString('utf8');
          image['moby.buildkit.cache.v0'] = mutate(decoded, m).toString('base64');
          text = Buffer.from(JSON.stringify(image), 'utf8');
        } else text = mutate(f.text, m);
        const file = join(root, `file-${++caseNo}.json`);
        writeFileSync(file, text);
        await openAndCheck(file);
      }),
      { seed: SEED + 4, numRuns: runs(90) },
    );
  });

  it('ran at least 500 cases, saw both outcomes, and no rejection went unhandled', async (t) => {
    // Let any stray promise rejection surface before checking: node reports unhandled rejections once
    // the microtask queue drains, which has happened by the time a macrotask (setImmediate) runs.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
    t.diagnostic(`cases: ${stats.ok} valid models, ${stats.error} CacheErrors ${JSON.stringify(Object.fromEntries(stats.byCode))}`);
    assert.ok(stats.ok + stats.error >= 500 * Math.min(1, SCALE), `only ${stats.ok + stats.error} cases`);
    assert.ok(stats.ok > 0 && stats.error > 0, JSON.stringify({ ...stats, byCode: Object.fromEntries(stats.byCode) }));
  });
});
