import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IMAGE_MANIFEST_NEEDS_OCI } from '../../shared/export/options';
import { fixture } from '../helpers/fixtures';
import { rawSummary } from '../helpers/raw-summary';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('export dialog: the boxes show what BuildKit will write (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let dest: string;
  before(async () => {
    dest = await mkdtemp(join(tmpdir(), 'cachescope-e2e-export-opts-'));
    s = await openSession(null);
  });
  after(async () => {
    await s?.close();
    await rm(dest, { recursive: true, force: true });
  });

  it('unticking only oci-mediatypes unticks image-manifest, says why, and the result is a Docker manifest list', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('export-button').click();
    const im = page.getByTestId('export-image-manifest');
    const mediaType = page.getByTestId('export-preview-mediatype');
    await mediaType.waitFor();
    assert.equal(await im.isChecked(), true);
    assert.equal(await mediaType.textContent(), OCI_MANIFEST);

    await page.getByTestId('export-oci').uncheck();
    await page.waitForFunction((t) => document.querySelector('[data-testid="export-preview-mediatype"]')?.textContent === t, DOCKER_LIST);
    // The box agrees with the preview: image-manifest is off, and the note says it follows oci-mediatypes.
    assert.equal(await im.isChecked(), false, 'image-manifest shows its effective value (false)');
    assert.equal((await page.getByTestId('export-image-manifest-value').textContent())?.trim(), 'false');
    assert.match((await page.getByTestId('export-image-manifest-note').textContent()) ?? '', /oci-mediatypes is off/);
    assert.match((await page.getByTestId('export-preview-form').textContent()) ?? '', /Docker manifest list/);
    await screenshot(page, 'export-dialog-docker');

    // Ticking it explicitly is BuildKit's configuration error: shown, and the export cannot start.
    await im.check();
    await page.getByTestId('export-preview-error').waitFor();
    assert.equal((await page.getByTestId('export-preview-error').textContent())?.trim(), IMAGE_MANIFEST_NEEDS_OCI);
    assert.match((await page.getByTestId('export-image-manifest-note').textContent()) ?? '', /refuses image-manifest=true with oci-mediatypes=false/);
    await page.getByTestId('export-dest').fill(dest);
    assert.equal(await page.getByTestId('export-start').isDisabled(), true, 'a contradiction cannot be exported');
    await screenshot(page, 'export-dialog-contradiction');

    // Back to the default: the box follows oci-mediatypes again, and the export writes what the preview said.
    await page.getByTestId('export-image-manifest-reset').click();
    await page.waitForFunction((t) => document.querySelector('[data-testid="export-preview-mediatype"]')?.textContent === t, DOCKER_LIST);
    assert.equal(await im.isChecked(), false);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    const digest = ((await page.getByTestId('export-done-digest').textContent()) ?? '').match(/sha256:[0-9a-f]{64}/)?.[0];
    assert.ok(digest);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, digest);
    assert.equal(index.manifests[0].mediaType, DOCKER_LIST);
    const manifest = JSON.parse(await readFile(join(dest, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
    assert.equal(manifest.mediaType, DOCKER_LIST);
    assert.deepEqual(s.errors, []);
  });

  it('lists each missing blob of the preview on its own line', async () => {
    const { page } = s;
    await page.getByTestId('export-done-digest').waitFor();
    await page.getByRole('button', { name: 'Close' }).last().click();
    await page.getByTestId('open-source-input').fill(fixture.margo);
    await page.getByTestId('open-source-button').click();
    const want = rawSummary(fixture.margo);
    await page.waitForFunction((d) => document.body.textContent?.includes(d.slice(7, 19)), want.manifestDigest);
    await page.getByTestId('export-button').click();
    const lines = page.getByTestId('export-preview-error').locator('li');
    await lines.first().waitFor();
    const texts = await lines.allTextContents();
    assert.equal(texts.length, want.missingBlobs, 'one line per missing blob');
    for (const t of texts) assert.match(t, /^missing blob sha256:[0-9a-f]{64}$/);
    await screenshot(page, 'export-dialog-missing');
    assert.deepEqual(s.errors, []);
  });
});

describe('the Diff view names a change of form (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let dest: string;
  before(async () => {
    dest = await mkdtemp(join(tmpdir(), 'cachescope-e2e-form-'));
    s = await openSession(null);
  });
  after(async () => {
    await s?.close();
    await rm(dest, { recursive: true, force: true });
  });

  it('the demo cache against its Docker manifest-list export: not identical, and the form change is listed', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-dest').fill(dest);
    await page.getByTestId('export-oci').uncheck();
    await page.waitForFunction((t) => document.querySelector('[data-testid="export-preview-mediatype"]')?.textContent === t, DOCKER_LIST);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-open-result').click();
    await page.locator(`[data-testid="cache-item"] button[title="${dest}:latest"]`).waitFor();
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].mediaType, DOCKER_LIST);
    await page.getByTestId('tab-diff').click();
    const options = await page.getByTestId('diff-a').locator('option').evaluateAll((els) => els.map((e) => ({ value: (e as HTMLOptionElement).value, title: e.getAttribute('title') })));
    const demo = options.find((o) => o.value && o.title !== `${dest}:latest`)!;
    const exported = options.find((o) => o.title === `${dest}:latest`)!;
    await page.getByTestId('diff-a').selectOption(demo.value);
    await page.getByTestId('diff-b').selectOption(exported.value);
    await page.getByTestId('diff-run').click();
    const form = page.getByTestId('diff-form');
    await form.waitFor();
    assert.equal(await form.getAttribute('data-changed'), 'true');
    assert.doesNotMatch((await page.getByTestId('diff-verdict').textContent()) ?? '', /identical/);
    const changes = await page.getByTestId('diff-form-change').allTextContents();
    // The demo is an OCI image manifest; the export an index with Docker media types.
    assert.ok(changes.some((c) => /image-manifest/.test(c) && /index/.test(c)), JSON.stringify(changes));
    assert.ok(changes.some((c) => /OCI/.test(c) && /Docker/.test(c)), JSON.stringify(changes));
    await screenshot(page, 'diff-form-change');
    assert.deepEqual(s.errors, []);
  });
});

describe('export dialog: compression levels are BuildKit\'s to judge (Chromium, browser mode, real engine)', () => {
  let s2: Session;
  before(async () => {
    s2 = await openSession(null);
  });
  after(async () => {
    await s2?.close();
  });

  it('accepts zstd level 22 and says which level runs', async () => {
    const { page } = s2;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-compression').selectOption('zstd');
    await page.getByTestId('export-level').fill('22');
    await page.getByTestId('export-level-note').waitFor();
    // The demo's layers are gzip and kept (BuildKit's rule without force-compression): the level does nothing, and it says so.
    await page.waitForFunction(() => /no layer is converted/.test(document.querySelector('[data-testid="export-level-note"]')?.textContent ?? ''));
    await page.getByTestId('export-force').check();
    await page.waitForFunction(() => /runs as/.test(document.querySelector('[data-testid="export-level-note"]')?.textContent ?? ''));
    assert.match((await page.getByTestId('export-level-note').textContent()) ?? '', /zstd level 22 runs as level 11/);
    assert.equal(await page.getByTestId('export-level').getAttribute('aria-invalid'), 'false', 'level 22 is not refused by the dialog');
    await screenshot(page, 'export-dialog-level-note');
  });
});
