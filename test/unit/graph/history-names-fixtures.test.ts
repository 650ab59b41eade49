/**
 * Names from an image's history on the real BuildKit v0.24 caches: an image made by hand from each
 * cache's own layers, with the history BuildKit writes for buildkit-v0.24-context/Dockerfile, names
 * the records; each name is checked against what the named layer really holds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspectCommand } from '../../../electron/cli/inspect-command';
import type { CommandIo } from '../../../electron/cli/io';
import { defaultPlatform } from '../../../electron/engine/export/image-config';
import { createService } from '../../../electron/engine/service';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { readImageHistory } from '../../../electron/engine/sources/image-history';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { CacheView, HistoryName } from '../../../shared/cache/view-types';
import { validateParams } from '../../../shared/contract/validate';
import { displayName, recordName } from '../../../shared/graph/history-names';
import { FIXTURES } from '../../helpers/fixtures';
import { layerPaths, writeHistoryImages, writeMultiPlatformImage } from '../../helpers/history-image';
import type { HistoryImage } from '../../helpers/history-image';

const CONTEXT = join(FIXTURES, 'buildkit-v0.24-context');
const cacheDir = (name: string) => join(FIXTURES, `buildkit-v0.24-${name}`);

/** The Dockerfile's steps as BuildKit writes them into history, per stage (FROM scratch adds no entry). */
const FINAL_STEPS = ['COPY a.txt /a.txt # buildkit', 'COPY b.txt /b.txt # buildkit', 'COPY /c /fromother # buildkit', 'COPY e.txt /e.txt # buildkit', 'COPY a.txt /again/a.txt # buildkit'];
const OTHER_STEPS = ['COPY c.txt /c/c.txt # buildkit', 'COPY d.txt /c/d.txt # buildkit'];

/** A file the step's layer must hold: its destination (a folder copy: a file inside it). */
function expectedPath(step: string): string {
  const dest = step.replace(/ # buildkit$/, '').split(' ').at(-1)!.replace(/^\//, '');
  return dest === 'fromother' ? 'fromother/c.txt' : dest;
}

/** The final stage's chain (the longest result) and the other stage's (the longest on another base). */
function stageChains(view: CacheView): { final: number[]; other: number[] | null } {
  const withResult = view.records.filter((r) => r.stack.length > 0);
  const final = withResult.reduce((a, b) => (b.stack.length > a.stack.length ? b : a)).stack;
  const others = withResult.filter((r) => r.stack[0] !== final[0]);
  const other = others.length ? others.reduce((a, b) => (b.stack.length > a.stack.length ? b : a)).stack : null;
  return { final, other };
}

function images(view: CacheView): HistoryImage[] {
  const { final, other } = stageChains(view);
  const out: HistoryImage[] = [{ chain: final, history: FINAL_STEPS.map((created_by) => ({ created: '2026-11-29T19:05:36Z', created_by })), tag: 'final' }];
  if (other) out.push({ chain: other, history: OTHER_STEPS.map((created_by) => ({ created: '2026-11-29T19:05:36Z', created_by })), tag: 'other' });
  return out;
}

/** The paths in a layer blob of any compression these caches use (zstd through the zstd tool; Node 20 has no zstd). */
function pathsInLayer(file: string, compression: string): string[] {
  if (compression !== 'zstd') return layerPaths(file);
  const tar = join(tmp, `${file.split('/').at(-1)}.tar`);
  writeFileSync(tar, execFileSync('zstd', ['-dc', file], { maxBuffer: 64 << 20 }));
  return layerPaths(tar);
}

function capture(): CommandIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, isTty: false, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-names-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('names from an image history on the buildkit-v0.24 caches', () => {
  it('the Dockerfile has the steps the images name', async () => {
    const { readFile } = await import('node:fs/promises');
    const dockerfile = await readFile(join(CONTEXT, 'Dockerfile'), 'utf8');
    for (const step of [...FINAL_STEPS, ...OTHER_STEPS]) {
      const [, src, dest] = step.replace(/ # buildkit$/, '').split(' ');
      const line = src === '/c' ? `COPY --from=other /c ${dest}` : `COPY ${src} ${dest}`;
      assert.ok(dockerfile.includes(line), `Dockerfile has "${line}"`);
    }
  });

  for (const name of ['image-manifest-gzip', 'index-gzip', 'docker-list-gzip', 'mode-min', 'mixed-gzip-zstd', 'uncompressed', 'estargz']) {
    it(`${name}: every result gets its Dockerfile step, and each named layer holds what the step copied`, async () => {
      const dir = cacheDir(name);
      const opened = await openCacheSource(dir);
      const bare = await viewOf(opened);
      assert.equal(bare.names, undefined, 'no names before an image is attached');
      const imageDir = join(tmp, `image-${name}`);
      const made = images(bare);
      await writeHistoryImages(imageDir, bare, made);
      const attached = await Promise.all(made.map((m) => readImageHistory(`${imageDir}:${m.tag}`)));
      const view = await viewOf(opened, attached);
      const names = view.names!;
      const expectedSteps = name === 'mode-min' ? FINAL_STEPS : [...FINAL_STEPS, ...OTHER_STEPS];
      // Names map by diffID, so each layer needs one (these caches carry them as annotations).
      assert.ok(view.layers.every((l) => l.diffID), `every layer of ${name} has a diffID`);
      if (name === 'mixed-gzip-zstd') assert.ok(view.records.some((r) => r.stack.length > 0 && view.layers[r.stack.at(-1)!].compression === 'zstd'), 'some named result ends in a zstd layer');
      // Every step is the name of some record; every record with a result is named.
      assert.deepEqual([...new Set(names.records.filter(Boolean).map((n) => n!.text))].sort(), [...expectedSteps].sort());
      for (const r of view.records) {
        const nm = names.records[r.index];
        if (r.stack.length === 0) {
          assert.equal(nm, null, `record #${r.index} has no result, so no name`);
          continue;
        }
        assert.ok(nm, `record #${r.index} (result at layer ${r.stack.at(-1)}) is named`);
        const tip = view.layers[r.stack.at(-1)!];
        const paths = pathsInLayer(join(dir, 'blobs', 'sha256', tip.blob.slice(7)), tip.compression);
        assert.ok(paths.includes(expectedPath(nm.text)), `record #${r.index} "${nm.text}": its layer holds ${paths.join(', ')}`);
        assert.equal(nm.match, 'chain');
        assert.match(nm.from, new RegExp(`^from image ${imageDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(final|other) history\\[\\d\\]$`));
      }
      assert.deepEqual(
        names.images.map((i) => [i.matchedLayers, i.layers, i.notes]),
        made.map((m) => [m.chain.length, m.chain.length, []]),
      );
      // The final result's name is the Dockerfile's last step.
      const leaf = view.records.find((r) => r.isLeaf && r.stack.length === 5)!;
      assert.equal(recordName(names, leaf.index), 'COPY a.txt /again/a.txt');
    });
  }

  it('attachImage through the service: names in the view, same cacheId; clear errors for a missing path, a cache, and an image of another build', async () => {
    const service = createService({ startupSource: null, mode: 'browser', emit: () => undefined, env: { ...process.env, XDG_CACHE_HOME: tmp } });
    try {
      const { cacheId, view } = await service.openCache({ source: cacheDir('image-manifest-gzip') });
      const imageDir = join(tmp, 'service-image');
      await writeHistoryImages(imageDir, view, images(view));
      const { view: named } = await service.attachImage(validateParams('attachImage', { cacheId, image: `${imageDir}:final` }));
      assert.equal(named.names!.images.length, 1);
      assert.equal(named.names!.images[0].namedRecords, view.records.filter((r) => r.stack.length > 0 && r.stack[0] === stageChains(view).final[0]).length);
      // By digest (DIR@sha256:…) as well as by tag.
      const index = JSON.parse(await (await import('node:fs/promises')).readFile(join(imageDir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
      const finalDigest = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'final')!.digest;
      const byDigest = await readImageHistory(`${imageDir}@${finalDigest}`);
      assert.deepEqual(
        byDigest.history.map((h) => h.created_by),
        FINAL_STEPS,
      );
      await assert.rejects(readImageHistory(`${imageDir}:nope`), /no image tagged "nope" in .*index\.json \(tags: final, other\)/);
      // A second image adds names; the first stays.
      const { view: both } = await service.attachImage({ cacheId, image: `${imageDir}:other` });
      assert.deepEqual(
        both.names!.images.map((i) => i.ref),
        [`${imageDir}:final`, `${imageDir}:other`],
      );
      assert.ok(both.names!.records.some((n) => n?.text === 'COPY d.txt /c/d.txt # buildkit'));
      assert.ok(both.names!.records.some((n) => n?.text === 'COPY b.txt /b.txt # buildkit'));

      await assert.rejects(service.attachImage({ cacheId, image: join(tmp, 'nowhere') }), (e: Error & { code?: string }) => e.code === 'not-found' && /no such file or directory/.test(e.message));
      await assert.rejects(service.attachImage({ cacheId, image: cacheDir('index-gzip') }), /is a build cache .*not an image/);
      await assert.rejects(service.attachImage({ cacheId, image: cacheDir('image-manifest-gzip') }), /is a build cache .*not an image/);
      const otherBuild = join(tmp, 'other-build');
      const otherView = await viewOf(await openCacheSource(cacheDir('index-gzip')));
      await writeHistoryImages(otherBuild, otherView, images(otherView));
      await assert.rejects(service.attachImage({ cacheId, image: `${otherBuild}:final` }), /no diffID in common with this cache: none of its 5 layer diffIDs is among this cache's 7 layers/);
      const cfg = join(tmp, 'not-an-image.json');
      await writeFile(cfg, '{"hello":"world"}');
      await assert.rejects(service.attachImage({ cacheId, image: cfg }), /not an image config/);
      // A failed attach leaves the names as they were.
      const again = await service.attachImage({ cacheId, image: `${imageDir}:final` });
      assert.equal(again.view.names!.images.length, 2);
      assert.throws(() => validateParams('attachImage', { cacheId, image: '  ' }), /"image" must be a non-empty string/);
      assert.throws(() => validateParams('attachImage', { cacheId }), /"image" must be a non-empty string/);
      assert.throws(() => validateParams('attachImage', { cacheId, image: 'x', extra: 1 }), /unknown field "extra"/);
    } finally {
      await service.dispose();
    }
  });

  it("a multi-platform image: this machine's platform is picked; another platform asked for lists the ones there are", async () => {
    const view = await viewOf(await openCacheSource(cacheDir('image-manifest-gzip')));
    const here = defaultPlatform();
    const [final] = images(view);
    const elsewhere = here.architecture === 'arm64' ? 'amd64' : 'arm64';
    const dir = join(tmp, 'multi');
    const digests = await writeMultiPlatformImage(dir, view, [
      { ...final, history: final.history.map((h) => ({ ...h, created_by: `${h.created_by} (${elsewhere})` })), platform: { os: 'linux', architecture: elsewhere } },
      { ...final, platform: { os: here.os, architecture: here.architecture } },
    ]);
    const image = await readImageHistory(dir);
    assert.equal(image.history[0].created_by, FINAL_STEPS[0]);
    await assert.rejects(readImageHistory(dir, { platform: { os: 'windows', architecture: 'amd64' } }), (e: Error) => {
      assert.match(e.message, /a multi-platform image without a windows\/amd64 image; attach one platform's image/);
      assert.ok(e.message.includes(`${dir}@${digests[0]} (linux/${elsewhere})`), e.message);
      assert.ok(!e.message.includes('unknown/unknown'), 'the attestation is not offered');
      return true;
    });
  });

  it('an inline-cache source is named from its own image config, automatically', async () => {
    const opened = await openCacheSource(join(FIXTURES, 'inline-cache-image-config-eksclustergames', 'config.json'));
    const view = await viewOf(opened);
    const config = JSON.parse(opened.texts.config!) as { history: { created_by?: string; empty_layer?: boolean }[] };
    const withLayer = config.history.filter((h) => !h.empty_layer);
    const names = view.names;
    assert.ok(names, 'names from the inline config');
    assert.equal(names.images[0].inline, true);
    const named = view.records.filter((r) => names.records[r.index]);
    assert.ok(named.length > 0);
    for (const r of named) {
      const nm: HistoryName = names.records[r.index]!;
      // Inline results refer to image layer i; its name is the i-th history entry with a layer.
      assert.equal(nm.text, withLayer[nm.imageLayer].created_by);
      assert.match(nm.from, /the image config carrying this inline cache/);
    }
  });

  it('cachescope inspect --image names the records in text and in --json', async () => {
    const dir = cacheDir('image-manifest-gzip');
    const view = await viewOf(await openCacheSource(dir));
    const imageDir = join(tmp, 'cli-image');
    await writeHistoryImages(imageDir, view, images(view));
    const text = capture();
    assert.equal(await inspectCommand([dir, '--image', `${imageDir}:final`, '--image', `${imageDir}:other`], text), 0, text.stderr.join('\n'));
    const out = text.stdout.join('\n');
    assert.match(out, /NAME \(image history\)/);
    for (const step of [...FINAL_STEPS, ...OTHER_STEPS]) assert.ok(out.includes(displayName(step)), `text output names ${step}`);
    assert.match(out, new RegExp(`names: +from image ${imageDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:final history: 5 records`));
    const json = capture();
    assert.equal(await inspectCommand([dir, `--image=${imageDir}:final`, '--json'], json), 0);
    const parsed = JSON.parse(json.stdout[0]) as CacheView;
    assert.equal(parsed.names!.records.filter(Boolean).length, 5);
    const bad = capture();
    await assert.rejects(inspectCommand([dir, '--image', cacheDir('index-gzip'), '--json'], bad), /is a build cache/);
    const usage = capture();
    assert.equal(await inspectCommand([dir, '--image'], usage), 2);
    assert.match(usage.stderr.join(''), /--image needs a reference/);
  });
});

describe('names in diff explanations', () => {
  it('a changed file under COPY e.txt: "input 1 of record #N (COPY e.txt /e.txt) changed: content checksum …"', async () => {
    const { diffCaches } = await import('../../../shared/diff/diff-caches');
    const { namedExplanation } = await import('../../../shared/diff/explain');
    const { copyWithChangedKey } = await import('../../helpers/history-image');
    const dir = cacheDir('image-manifest-gzip');
    const b = await openCacheSource(dir);
    const bare = await viewOf(b);
    const imageDir = join(tmp, 'diff-image');
    await writeHistoryImages(imageDir, bare, images(bare));
    const viewB = await viewOf(b, [await readImageHistory(`${imageDir}:final`)]);
    const copyE = viewB.records.find((r) => viewB.names!.records[r.index]?.text === 'COPY e.txt /e.txt # buildkit')!;
    // Its content checksum input (the slot without a selector) had other files in A.
    const slot = copyE.inputs.findIndex((s) => s.length === 1 && s[0].selector === null && viewB.records[s[0].link].isSource);
    const checksum = viewB.records[copyE.inputs[slot][0].link].digest;
    const a = await openCacheSource(await copyWithChangedKey(dir, join(tmp, 'diff-a'), checksum, `sha256:${'e'.repeat(64)}`));
    const diff = diffCaches(a.model, b.model);
    const d = diff.divergences.find((x) => x.record === copyE.index);
    assert.ok(d, `a divergence at record #${copyE.index}: ${diff.divergences.map((x) => x.explanation).join(' | ')}`);
    const text = namedExplanation(d, (i) => recordName(viewB.names, i), (i) => recordName(viewB.names, i));
    assert.ok(text.startsWith(`input ${slot} of record #${copyE.index} (COPY e.txt /e.txt) changed: content checksum of its files (no selector) sha256:eeeeeeeeeeee… → ${checksum.slice(0, 19)}`), text);
    // Without names, the words are the same as before.
    assert.equal(namedExplanation(d, () => null), d.explanation);
  });

  it('names A’s record too when its definition changed, and only whole record numbers', async () => {
    const { namedExplanation } = await import('../../../shared/diff/explain');
    const d = { record: 1, recordA: 2, explanation: "record #1 has 2 inputs where A's record #2 with the same key sha256:0123… had 1: its definition changed; 1 layer, 1 kB rebuilt above it" };
    assert.equal(
      namedExplanation(d, (i) => (i === 1 ? 'RUN b' : null), (i) => (i === 2 ? 'RUN a' : null)),
      "record #1 (RUN b) has 2 inputs where A's record #2 (RUN a) with the same key sha256:0123… had 1: its definition changed; 1 layer, 1 kB rebuilt above it",
    );
    assert.equal(namedExplanation({ record: 1, recordA: null, explanation: 'input 0 of record #13 changed: x' }, () => 'RUN x'), 'input 0 of record #13 changed: x');
  });
});
