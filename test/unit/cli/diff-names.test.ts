/**
 * `cachescope diff A B --image REF`: the explanations name the record whose input changed with the
 * Dockerfile step from an image's history, exactly as the Diff view writes them, in text and --json.
 * A real BuildKit v0.24 cache, a copy of it whose COPY e.txt content checksum differs, and an image of
 * the same build written by hand from the cache's own layers (test/helpers/history-image.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandIo } from '../../../electron/cli/io';
import { main } from '../../../electron/cli/main';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { AttachedImage, CacheView, HistoryName } from '../../../shared/cache/view-types';
import type { Divergence } from '../../../shared/diff/types';
import { FIXTURES } from '../../helpers/fixtures';
import { copyWithChangedKey, writeHistoryImages } from '../../helpers/history-image';
import type { HistoryImage } from '../../helpers/history-image';

const CACHE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const OTHER_BUILD = join(FIXTURES, 'buildkit-v0.24-index-gzip');
const INLINE = join(FIXTURES, 'inline-cache-image-config-eksclustergames', 'config.json');
const FINAL_STEPS = ['COPY a.txt /a.txt # buildkit', 'COPY b.txt /b.txt # buildkit', 'COPY /c /fromother # buildkit', 'COPY e.txt /e.txt # buildkit', 'COPY a.txt /again/a.txt # buildkit'];
const OTHER_STEPS = ['COPY c.txt /c/c.txt # buildkit', 'COPY d.txt /c/d.txt # buildkit'];

function capture(): CommandIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTty: false };
}

/** The final stage's image and the other stage's, their chains the longest results of each base. */
function stageImages(view: CacheView): HistoryImage[] {
  const withResult = view.records.filter((r) => r.stack.length > 0);
  const longest = (rs: typeof withResult) => rs.reduce((a, b) => (b.stack.length > a.stack.length ? b : a)).stack;
  const final = longest(withResult);
  const other = longest(withResult.filter((r) => r.stack[0] !== final[0]));
  const history = (steps: string[]) => steps.map((created_by) => ({ created: '2026-11-29T19:05:36Z', created_by }));
  return [
    { chain: final, history: history(FINAL_STEPS), tag: 'final' },
    { chain: other, history: history(OTHER_STEPS), tag: 'other' },
  ];
}

type JsonDiff = { divergences: (Divergence & { recordName?: HistoryName; recordNameA?: HistoryName })[]; names?: { a: AttachedImage[]; b: AttachedImage[] } };

describe('cachescope diff --image: records named in the explanations', () => {
  let tmp: string;
  let image: string;
  let otherImage: string;
  let changed: string;
  let copyE: number;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-diff-names-'));
    const view = await viewOf(await openCacheSource(CACHE));
    image = join(tmp, 'image');
    await writeHistoryImages(image, view, stageImages(view));
    const otherView = await viewOf(await openCacheSource(OTHER_BUILD));
    otherImage = join(tmp, 'other-build-image');
    await writeHistoryImages(otherImage, otherView, stageImages(otherView));
    // A: the same cache as if e.txt had other content (the content checksum under COPY e.txt differs).
    const rec = view.records.find((r) => r.stack.length === 4)!;
    copyE = rec.index;
    const checksum = rec.inputs.map((slot) => view.records[slot[0].link]).find((r) => r.isSource)!.digest;
    changed = await copyWithChangedKey(CACHE, join(tmp, 'changed'), checksum, `sha256:${'e'.repeat(64)}`);
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('text: the miss names record #N (COPY e.txt /e.txt), and says which image the names come from', async () => {
    const io = capture();
    assert.equal(await main(['diff', changed, CACHE, '--image', `${image}:final`, '--image', `${image}:other`], io), 1);
    const text = io.stdout.join('\n');
    assert.match(text, new RegExp(`^  leaf #\\d+: input \\d of record #${copyE} \\(COPY e\\.txt /e\\.txt\\) changed: content checksum of its files`, 'm'));
    assert.match(text, new RegExp(`^   A names from image ${image}:final history: 5 records$`, 'm'));
    assert.match(text, new RegExp(`^   B names from image ${image}:other history: 2 records$`, 'm'));
    assert.deepEqual(io.stderr, []);
  });

  it('without --image the explanation is the digest-only one, as before', async () => {
    const io = capture();
    assert.equal(await main(['diff', changed, CACHE], io), 1);
    const text = io.stdout.join('\n');
    assert.match(text, new RegExp(`input \\d of record #${copyE} changed: content checksum`));
    assert.doesNotMatch(text, /COPY|names from image/);
  });

  it('--json: the same named explanation, the name with where it comes from, and the images per side', async () => {
    const io = capture();
    assert.equal(await main(['diff', changed, CACHE, `--image=${image}:final`, '--json'], io), 1);
    const out = JSON.parse(io.stdout[0]) as JsonDiff;
    const d = out.divergences.find((x) => x.record === copyE)!;
    assert.ok(d, JSON.stringify(out.divergences.map((x) => x.explanation)));
    assert.match(d.explanation, new RegExp(`^input \\d of record #${copyE} \\(COPY e\\.txt /e\\.txt\\) changed: content checksum of its files`));
    assert.equal(d.recordName?.text, 'COPY e.txt /e.txt # buildkit');
    assert.match(d.recordName?.from ?? '', new RegExp(`^from image ${image}:final history\\[3\\]`));
    assert.deepEqual(
      out.names?.b.map((i) => [i.ref, i.namedRecords]),
      [[`${image}:final`, 5]],
    );
    // The text report's explanation is the JSON's, word for word.
    const textIo = capture();
    await main(['diff', changed, CACHE, `--image=${image}:final`], textIo);
    assert.ok(textIo.stdout.join('\n').includes(`: ${d.explanation}`));
  });

  it('an image that names neither cache is refused with exit 2, naming it and why for each side', async () => {
    const io = capture();
    assert.equal(await main(['diff', changed, CACHE, '--image', `${otherImage}:final`, '--json'], io), 2);
    const { error } = JSON.parse(io.stdout[0]) as { error: { code: string; message: string } };
    assert.match(error.message, new RegExp(`--image ${otherImage}:final names no record of A or B \\(A: no diffID in common with this cache: .*; B: no diffID in common`));
    const missing = capture();
    assert.equal(await main(['diff', changed, CACHE, '--image'], missing), 2);
    assert.match(missing.stderr.join('\n'), /--image needs a reference/);
  });

  it("an inline cache's own image config names its records without --image", async () => {
    const io = capture();
    assert.equal(await main(['diff', INLINE, INLINE, '--json'], io), 0);
    const out = JSON.parse(io.stdout[0]) as JsonDiff;
    assert.equal(out.names?.a[0]?.inline, true);
    assert.ok((out.names?.a[0]?.namedRecords ?? 0) > 0);
    const text = capture();
    await main(['diff', INLINE, INLINE], text);
    assert.match(text.stdout.join('\n'), /^   A names from this inline cache's own image config history: 1 record$/m);
  });
});
