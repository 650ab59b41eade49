import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

describe('export the demo cache from the GUI (Chromium, browser mode, real engine)', () => {
  let s: Session;
  let dest: string;
  before(async () => {
    dest = await mkdtemp(join(tmpdir(), 'cachescope-e2e-export-'));
    s = await openSession(null);
  });
  after(async () => {
    await s?.close();
    await rm(dest, { recursive: true, force: true });
  });

  it('exports with zstd, shows per-layer bars reaching done, and opens the result', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    const entries = Number(await page.getByTestId('summary-layerEntries').textContent());
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-dest').fill(dest);
    await page.getByTestId('export-tag').fill('zstd');
    await page.getByTestId('export-compression').selectOption('zstd');
    // BuildKit converts existing layers only with force-compression.
    await page.getByTestId('export-force').check();
    await page.getByTestId('export-preview').getByText(/to convert/).waitFor();
    await page.getByText(/force-compression/).first().waitFor();
    await screenshot(page, 'export-dialog');
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-progress').waitFor();
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    const states = await page.getByTestId('layer-progress').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    assert.ok(states.length > 0, 'one bar per layer');
    for (const st of states) assert.ok(['done', 'exists', 'linked'].includes(st ?? ''), `layer state ${st}`);
    await screenshot(page, 'export-progress');
    const digest = ((await page.getByTestId('export-done-digest').textContent()) ?? '').match(/sha256:[0-9a-f]{64}/)?.[0];
    assert.ok(digest, 'the manifest digest is shown in full');
    // The manifest the GUI names is on disk under that digest, and index.json tags it.
    const manifestBytes = await readFile(join(dest, 'blobs', 'sha256', digest.slice(7)));
    assert.equal(`sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`, digest);
    const manifest = JSON.parse(manifestBytes.toString('utf8'));
    assert.equal(manifest.layers.length, entries);
    for (const l of manifest.layers) assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests.find((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'] === 'zstd').digest, digest);
    await page.getByTestId('export-open-result').click();
    await page.waitForFunction((d) => document.body.textContent?.includes(d.slice(7, 19)), digest);
    await screenshot(page, 'export-result-opened');
    assert.deepEqual(s.errors, []);
  });
});
