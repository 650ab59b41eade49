import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../helpers/fixtures';
import { rawSummary } from '../helpers/raw-summary';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

describe('orphans panel: reclaim unreferenced blobs behind a confirmation (Chromium, real engine)', () => {
  let s: Session;
  let dir: string;
  before(async () => {
    // A copy: gc deletes files, and the shared fixtures are read-only evidence.
    dir = join(await mkdtemp(join(tmpdir(), 'cachescope-e2e-gc-')), 'cache');
    await cp(fixture.dto, dir, { recursive: true });
    s = await openSession(dir);
  });
  after(async () => {
    await s?.close();
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('shows the reclaimable bytes, asks first, then deletes only unreferenced blobs', async () => {
    const { page } = s;
    const before = rawSummary(dir);
    const blobsBefore = (await readdir(join(dir, 'blobs', 'sha256'))).length;
    await page.getByTestId('summary-layerEntries').waitFor();
    await page.getByTestId('tab-orphans').click();
    const rows = page.getByTestId('orphan-row');
    await rows.first().waitFor();
    const orphanCount = await rows.count();
    assert.equal(orphanCount, 8, 'dto-pattern: 3 orphaned manifests, 3 configs, 2 layers');
    await page.getByTestId('gc-button').click();
    await page.getByTestId('gc-confirm').waitFor();
    await screenshot(page, 'orphans-gc-confirm');
    // Nothing is deleted before the confirmation.
    assert.equal((await readdir(join(dir, 'blobs', 'sha256'))).length, blobsBefore);
    await page.getByTestId('gc-confirm').click();
    await page.getByText(/Deleted 8 blobs/).waitFor();
    assert.equal((await readdir(join(dir, 'blobs', 'sha256'))).length, blobsBefore - orphanCount);
    // The cache itself is untouched and reopens with the same numbers.
    assert.deepEqual(rawSummary(dir), before);
    await page.getByTestId('tab-orphans').click();
    await page.getByText(/0 unreferenced blobs|in 0 unreferenced/).waitFor();
    await screenshot(page, 'orphans-after-gc');
    assert.deepEqual(s.errors, []);
  });
});
