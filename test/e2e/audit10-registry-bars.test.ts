/**
 * Audit of issue 10, GUI: "per-layer bars that show exists/mounted/uploading/resumed/done with bytes
 * and speed". Chromium, browser mode, real engine, a real loopback distribution 2.8 behind the counting
 * proxy whose upload requests wait a little: while a big layer is `uploading`, its bar shows the
 * bytes the registry holds of the layer's size (part of it) and a speed; once done it shows the whole
 * size and no speed; pushed again, every bar is `exists`, full, with its size.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCache } from '../../scripts/cache-generator/generate';
import { startProxy, startRegistry } from '../helpers/registry/index';
import type { CountingProxy, FaultFn, RunningRegistry } from '../helpers/registry/index';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';
import { isolateUserDirs } from './user-dirs';
import type { UserDirs } from './user-dirs';

const MiB = 1 << 20;

/** Upload requests wait, so a big layer's 8 MiB chunks are seen arriving one by one. */
const slowUploads: FaultFn = (req) => (req.method !== 'HEAD' && req.method !== 'GET' && /\/blobs\/uploads\//.test(req.path) ? { kind: 'stall', ms: 600 } : undefined);

/** "12.3 MiB" → bytes (the page's formatBytes, read back). */
function parseBytes(text: string): number {
  const m = /([\d.]+)\s*(B|KiB|MiB|GiB|kB|MB|GB)/.exec(text);
  assert.ok(m, `a size in ${JSON.stringify(text)}`);
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: MiB, GiB: 1024 * MiB }[m[2] as 'B'];
  return Number(m[1]) * unit;
}

describe('registry export bars: bytes and speed (Chromium, real registry)', () => {
  let s: Session;
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let dirs: UserDirs | undefined;
  let source: string;

  before(async () => {
    dirs = await isolateUserDirs('audit10-bars');
    source = join(dirs.tmp, 'big');
    await generateCache(source, { seed: 'audit10-bars', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 24 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    registry = await startRegistry();
    proxy = await startProxy(registry, { faults: slowUploads });
    s = await openSession(source);
    await s.page.emulateMedia({ reducedMotion: 'reduce' });
    await s.page.getByTestId('summary-layerEntries').waitFor();
  });
  after(async () => {
    await s?.close();
    await proxy?.stop();
    await registry?.stop();
    await dirs?.restore();
  });

  const pushTo = async (ref: string) => {
    const { page } = s;
    if (await page.getByTestId('export-dialog').count()) await page.getByRole('button', { name: 'New export…' }).click();
    else await page.getByTestId('export-button').click();
    await page.getByTestId('export-kind-registry').check();
    await page.getByTestId('export-ref').fill(ref);
    await page.getByTestId('export-image-manifest').check();
    await page.getByTestId('export-preview').getByText(/layers?,/).waitFor();
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-progress').waitFor();
  };

  it('an uploading bar shows bytes held of the size and a speed; a done bar the whole size', async () => {
    const { page } = s;
    await pushTo(`${proxy.host}/audit10/bars:main`);
    // A bar mid-upload: part of its bytes, and a speed.
    const moving = page.getByTestId('layer-progress').and(page.locator('[data-state="uploading"]')).filter({ has: page.locator('.layer-rate') }).first();
    await moving.waitFor({ timeout: 60_000 });
    const text = await moving.getByTestId('layer-bytes').innerText();
    await screenshot(page, 'audit10-registry-bars-uploading');
    const [done, total] = text.split('·')[0].split('/').map(parseBytes);
    assert.ok(done > 0 && done < total, `part of the layer: ${text}`);
    assert.ok(total > 8 * MiB, `a big layer's size: ${text}`);
    assert.match(text, /·\s*[\d.]+\s*(B|KiB|MiB|GiB)\/s/, `a speed: ${text}`);

    await page.getByTestId('export-done-digest').waitFor({ timeout: 120_000 });
    await screenshot(page, 'audit10-registry-bars-done');
    for (const bar of await page.getByTestId('layer-progress').all()) {
      assert.equal(await bar.getAttribute('data-state'), 'done');
      const t = await bar.getByTestId('layer-bytes').innerText();
      const [d, tot] = t.split('/').map(parseBytes);
      assert.equal(d, tot, `whole size once done: ${t}`);
      assert.doesNotMatch(t, /\/s/, `no speed once done: ${t}`);
    }
  });

  it('pushed again: every bar exists, full, with its size', async () => {
    const { page } = s;
    await pushTo(`${proxy.host}/audit10/bars:main`);
    await page.getByTestId('export-done-digest').waitFor({ timeout: 120_000 });
    await screenshot(page, 'audit10-registry-bars-exists');
    const bars = await page.getByTestId('layer-progress').all();
    assert.ok(bars.length > 0);
    for (const bar of bars) {
      assert.equal(await bar.getAttribute('data-state'), 'exists');
      const t = await bar.getByTestId('layer-bytes').innerText();
      const [d, tot] = t.split('/').map(parseBytes);
      assert.ok(tot > 0, t);
      assert.equal(d, tot, `an exists bar is full: ${t}`);
    }
    await s.assertClean();
  });
});
