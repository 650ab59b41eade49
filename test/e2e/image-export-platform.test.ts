/**
 * The Export as image dialog's platform and config source (Chromium, browser mode, real engine): a
 * platform typed in becomes the empty config's, a config file that says another platform is refused
 * as a platform given twice before anything starts, and the exported image on disk has the platform
 * the dialog showed, its digests the ones the dialog lists.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBusyboxCache } from '../integration/image/busybox-cache';
import type { BusyboxCache } from '../integration/image/busybox-cache';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

describe('Export as image: platform and config source in the dialog (Chromium, real engine)', () => {
  let s: Session;
  let tmp: string;
  let bb: BusyboxCache;
  let amd64Config: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-image-platform-'));
    bb = await writeBusyboxCache(join(tmp, 'cache'));
    amd64Config = join(tmp, 'amd64-config.json');
    await writeFile(amd64Config, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'] } }));
    s = await openSession(bb.dir);
  });
  after(async () => {
    await s?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('platform given, a contradicting config refused, the image written with the platform shown', async () => {
    const { page } = s;
    await page.getByTestId('summary-layerEntries').waitFor();
    // Only a record with a result offers it: record #5 of this cache has none (selected in Records, shown in Chains' detail pane).
    await page.getByTestId('tab-records').click();
    await page.getByTestId('records-as-table').click();
    await page.locator('[data-testid="record-row"][data-index="5"]').click();
    await page.getByTestId('tab-chains').click();
    await page.getByTestId('detail-pane').getByText('Record #5').waitFor();
    assert.equal(await page.getByTestId('detail-pane').getByTestId('image-export-button').count(), 0);
    await page.getByRole('button', { name: `record #${bb.resultRecord}`, exact: true }).click();
    await page.getByTestId('detail-pane').getByTestId('image-export-button').click();
    const dialog = page.getByTestId('image-export-dialog');
    await dialog.getByTestId('image-chain-layer').nth(2).waitFor();

    await dialog.getByTestId('image-platform').fill('linux/arm64');
    await dialog.getByTestId('image-config-origin').getByText('Config from: empty (linux/arm64)').waitFor();

    await dialog.getByRole('radio', { name: 'Config file' }).check();
    await dialog.getByTestId('image-config-value').fill(amd64Config);
    await dialog.getByTestId('image-export-problem').getByText(`platform given twice: --platform linux/arm64 but the file ${amd64Config} config says linux/amd64`).waitFor();
    // The empty config's label keeps the typed platform, not the refused file's or this machine's.
    await dialog.getByTestId('image-config-source').getByText("BuildKit's empty config (linux/arm64, PATH, WorkingDir /)").waitFor();
    await dialog.getByTestId('image-dest').fill(`${join(tmp, 'never')}:t`);
    assert.equal(await dialog.getByTestId('image-export-start').isDisabled(), true);
    await screenshot(page, 'image-export-platform-twice');

    // The config file alone decides the platform; then back to the empty config for arm64.
    await dialog.getByTestId('image-platform').fill('');
    await dialog.getByTestId('image-config-origin').getByText(`Config from: file ${amd64Config}`).waitFor();
    await dialog.getByTestId('image-export-problem').waitFor({ state: 'detached' });
    await dialog.getByRole('radio', { name: /^Empty/ }).check();
    await dialog.getByTestId('image-platform').fill('linux/arm64');
    await dialog.getByTestId('image-config-origin').getByText('Config from: empty (linux/arm64)').waitFor();
    const dest = join(tmp, 'arm64');
    await dialog.getByTestId('image-dest').fill(`${dest}:a`);
    await dialog.getByTestId('image-dest-label').getByText(`${dest}:a`).waitFor();
    await dialog.getByTestId('image-export-start').click();
    await dialog.getByTestId('image-result').waitFor({ timeout: 60_000 });
    const key = async (k: string) => (await dialog.getByTestId(`image-key-${k}`).locator('dd code').textContent()) ?? '';
    const manifestDigest = await key('containerimage.digest');
    const configDigest = await key('containerimage.config.digest');
    await screenshot(page, 'image-export-platform-done');

    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, manifestDigest);
    const manifest = JSON.parse(await readFile(join(dest, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8'));
    assert.equal(manifest.config.digest, configDigest);
    const configBytes = await readFile(join(dest, 'blobs', 'sha256', configDigest.slice(7)));
    assert.equal(`sha256:${createHash('sha256').update(configBytes).digest('hex')}`, configDigest);
    const config = JSON.parse(configBytes.toString('utf8'));
    assert.equal(`${config.os}/${config.architecture}`, 'linux/arm64');
    assert.deepEqual(config.rootfs.diff_ids, bb.diffIDs);
    assert.deepEqual(s.errors, []);
    await s.assertClean();
  });
});
