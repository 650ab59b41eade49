/**
 * Export to a registry from the GUI (Chromium, browser mode, real engine) against a real loopback
 * distribution 2.8 behind the counting proxy: a local BuildKit cache is pushed with per-layer bars
 * (the states each bar went through are recorded in the page), pushed again (every layer `exists`,
 * no blob bytes sent), pushed to a second repository (every layer `mounted`), and refused by a
 * registry imitating GCR's strict index rule: the registry's words, what they mean and the fix are
 * shown, and Retry, once the registry accepts the form, finishes without sending a blob again.
 * Before any push, the dialog warns about the index form for a host known to refuse it (gcr.io) and
 * applies the fix with a click; that test runs unconditionally, so a regression fails it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { parseExportArgs } from '../../electron/cli/export-command';
import { RegistryClient } from '../../electron/engine/registry/client';
import { generateCache } from '../../scripts/cache-generator/generate';
import { FIXTURES } from '../helpers/fixtures';
import { imitateRegistry, startProxy, startRegistry } from '../helpers/registry/index';
import type { CountingProxy, FaultFn, ProxyRequest, RunningRegistry } from '../helpers/registry/index';
import { seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const SOURCE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const PASSWORD = 'e2e-Push-s3cret';
const MiB = 1 << 20;

/** Upload requests wait a little, so every bar is seen `uploading` before it is `done`. */
const slowUploads: FaultFn = (req) => (req.method !== 'HEAD' && req.method !== 'GET' && /\/blobs\/uploads\//.test(req.path) ? { kind: 'stall', ms: 300 } : undefined);

/**
 * Records, in the page, every state each layer bar shows (a MutationObserver on data-state). A
 * string, not a function: tsx would wrap a function's inner helpers in a `__name` the page lacks.
 */
const RECORD_STATES = `(() => {
  const w = window;
  if (w.stopStates) w.stopStates();
  w.layerStates = {};
  const note = () => document.querySelectorAll('[data-testid="layer-progress"]').forEach((el) => {
    const blob = el.getAttribute('data-blob');
    const state = el.getAttribute('data-state');
    if (!blob || !state) return;
    const seen = (w.layerStates[blob] = w.layerStates[blob] || []);
    if (seen[seen.length - 1] !== state) seen.push(state);
  });
  const observer = new MutationObserver(note);
  observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  w.stopStates = () => observer.disconnect();
})()`;

async function recordStates(page: Page): Promise<void> {
  await page.evaluate(RECORD_STATES);
}

async function statesSeen(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(() => (window as unknown as { layerStates: Record<string, string[]> }).layerStates);
}

async function finalStates(page: Page): Promise<string[]> {
  return page.getByTestId('layer-progress').evaluateAll((els) => els.map((e) => e.getAttribute('data-state') ?? ''));
}

/** Blob bytes sent to the registry in upload requests. */
function uploadedBytes(requests: ProxyRequest[]): number {
  return requests.filter((r) => /\/blobs\/uploads\//.test(r.path)).reduce((n, r) => n + r.bytesIn, 0);
}

describe('export to a registry from the GUI (Chromium, real engine, real registry)', () => {
  let s: Session;
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  /** A second registry that wants a login (htpasswd). */
  let locked: RunningRegistry;
  let tmp: string;
  let layerCount = 0;
  const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };

  const manifestDigest = async (repository: string, tag: string): Promise<string | null> => {
    const client = new RegistryClient({ env: {} });
    try {
      return (await client.getManifest({ registry: registry.host, repository, tag })).digest;
    } catch {
      return null;
    } finally {
      client.close();
    }
  };

  /** Opens the dialog on the registry destination with `ref` typed in. */
  const openRegistryDialog = async (ref: string) => {
    const { page } = s;
    if (await page.getByTestId('export-dialog').count()) {
      await page.getByRole('button', { name: 'New export…' }).click();
    } else {
      await page.getByTestId('export-button').click();
    }
    await page.getByTestId('export-kind-registry').check();
    await page.getByTestId('export-ref').fill(ref);
  };

  const push = async () => {
    const { page } = s;
    await page.getByTestId('export-preview').getByText(/layers?,/).waitFor();
    await recordStates(page);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-progress').waitFor();
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-push-'));
    // The server runs in this process: its engine reads docker's config and the per-user caches from here.
    process.env.DOCKER_CONFIG = join(tmp, 'docker');
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg-cache');
    registry = await startRegistry();
    proxy = await startProxy(registry, { faults: slowUploads });
    locked = await startRegistry({ auth: 'htpasswd', users: { alice: PASSWORD } });
    s = await openSession(SOURCE);
    // Bars jump to their value: a screenshot never catches one mid-animation.
    await s.page.emulateMedia({ reducedMotion: 'reduce' });
    await s.page.getByTestId('summary-layerEntries').waitFor();
  });
  after(async () => {
    await s?.close();
    await proxy?.stop();
    await registry?.stop();
    await locked?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("refuses a bad reference inline with the CLI's words, before anything starts", async () => {
    const { page } = s;
    // Typed as a folder, a host:port/repo reference is said to be a registry (as the CLI reads it), with a switch.
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-dest').fill(`${proxy.host}/team/cache:main`);
    await page.getByTestId('export-dest-registry-note').getByRole('button').click();
    assert.ok(await page.getByTestId('export-kind-registry').isChecked());
    assert.equal(await page.getByTestId('export-ref').inputValue(), `${proxy.host}/team/cache:main`);
    const bad = `${proxy.host}/Team/cache:main`;
    await page.getByTestId('export-ref').fill(bad);
    const cli = parseExportArgs([SOURCE, bad]);
    assert.equal(typeof cli, 'string');
    await page.getByTestId('export-ref-error').waitFor();
    assert.equal(await page.getByTestId('export-ref-error').innerText(), cli);
    assert.ok(await page.getByTestId('export-start').isDisabled(), 'no push starts with a bad reference');
    await screenshot(page, 'registry-export-bad-reference');

    await page.getByTestId('export-ref').fill('team/cache:main');
    assert.match(await page.getByTestId('export-ref-error').innerText(), /names no registry host/);
    assert.deepEqual(proxy.requests(), [], 'nothing reached the registry');
  });

  it('warns before pushing the index form to a host known to reject it, and applies the fix with a click', async () => {
    const { page } = s;
    // Only the preview reads this reference: no request leaves the machine.
    await page.getByTestId('export-ref').fill('gcr.io/team-project/cache:main');
    await page.getByTestId('export-image-manifest').uncheck();
    const warning = page.getByTestId('export-warning').first();
    await warning.waitFor();
    assert.match(await warning.innerText(), /image-manifest=true/);
    await page.locator('[data-testid="export-preview"][aria-busy="false"]').waitFor();
    await screenshot(page, 'registry-export-warning');
    await warning.getByTestId('export-warning-apply').click();
    await page.getByTestId('export-warnings').waitFor({ state: 'detached' });
    assert.ok(await page.getByTestId('export-image-manifest').isChecked());
  });

  it('pushes a local cache with per-layer bars going uploading → done, and shows the login state', async () => {
    const { page } = s;
    await page.getByTestId('export-ref').fill(`${proxy.host}/team/cache:main`);
    await page.getByTestId('export-login-status').getByText(`Not logged in to ${proxy.host}`).waitFor();
    assert.equal(await page.getByTestId('export-ref-error').count(), 0);
    await page.getByTestId('export-preview').getByText('tagged').waitFor();
    await page.locator('[data-testid="export-preview"][aria-busy="false"]').waitFor();
    await screenshot(page, 'registry-export-dialog');
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
    proxy.clear();
    await push();
    await page.getByTestId('layer-progress').and(page.locator('[data-state="uploading"]')).first().waitFor();
    await screenshot(page, 'registry-export-uploading');
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    await screenshot(page, 'registry-export-done');
    const seen = await statesSeen(page);
    layerCount = Object.keys(seen).length;
    assert.ok(layerCount > 0, 'one bar per layer');
    for (const [blob, states] of Object.entries(seen)) {
      assert.ok(states.includes('uploading'), `${blob} was seen uploading: ${states.join(' → ')}`);
      assert.equal(states[states.length - 1], 'done', `${blob} ends done: ${states.join(' → ')}`);
    }
    const digest = ((await page.getByTestId('export-done-digest').textContent()) ?? '').match(/sha256:[0-9a-f]{64}/)?.[0];
    assert.equal(await manifestDigest('team/cache', 'main'), digest, 'the registry holds the manifest the dialog names');
    assert.ok(uploadedBytes(proxy.requests()) > 0);
  });

  it('pushes again: every layer exists, one HEAD per blob and no blob bytes', async () => {
    const { page } = s;
    await openRegistryDialog(`${proxy.host}/team/cache:main`);
    proxy.clear();
    await push();
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    assert.deepEqual([...new Set(await finalStates(page))], ['exists']);
    for (const [blob, states] of Object.entries(await statesSeen(page))) assert.ok(!states.includes('uploading'), `${blob}: ${states.join(' → ')}`);
    assert.equal(uploadedBytes(proxy.requests()), 0);
    const heads = proxy.requests().filter((r) => r.method === 'HEAD' && /\/blobs\/sha256:/.test(r.path));
    assert.ok(heads.length <= layerCount + 1, `at most one HEAD per blob (${heads.length} for ${layerCount} layers and the config)`);
    assert.match(await page.getByTestId('export-done-counts').innerText(), new RegExp(`${layerCount} already there`));
    await screenshot(page, 'registry-export-exists');
  });

  it('pushes to a second repository of the same registry: every layer is mounted', async () => {
    const { page } = s;
    await openRegistryDialog(`${proxy.host}/team/other:main`);
    proxy.clear();
    await push();
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    assert.deepEqual([...new Set(await finalStates(page))], ['mounted']);
    assert.equal(uploadedBytes(proxy.requests().filter((r) => !/[?&]mount=/.test(r.path))), 0, 'no layer bytes uploaded');
    assert.ok(await manifestDigest('team/other', 'main'));
    await screenshot(page, 'registry-export-mounted');
  });

  it('explains a strict registry refusing the index form, and Retry finishes once the registry accepts it', async () => {
    const { page } = s;
    proxy.setFaults(imitateRegistry('gcr'));
    await openRegistryDialog(`${proxy.host}/team/strict:main`);
    await page.getByTestId('export-image-manifest').uncheck();
    await page.getByTestId('export-preview-mediatype').getByText('application/vnd.oci.image.index.v1+json').waitFor();
    await push();
    await page.getByTestId('export-error').waitFor({ timeout: 60_000 });
    const words = await page.getByTestId('export-error-words').innerText();
    assert.match(words, /MANIFEST_INVALID/);
    assert.match(words, /Image index child manifest not supported: application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\./, 'the registry words, verbatim');
    assert.match(await page.getByTestId('export-error-meaning').innerText(), /does not accept the index form/);
    assert.match(await page.getByTestId('export-error-fix').innerText(), /image-manifest=true/);
    assert.equal(await manifestDigest('team/strict', 'main'), null);
    await screenshot(page, 'registry-export-rejected');
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));

    // The cause goes away (the registry accepts the form now): one click starts the same push again.
    proxy.setFaults(undefined);
    proxy.clear();
    await recordStates(page);
    await page.getByTestId('export-retry').click();
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    assert.match(await page.getByTestId('export-done-digest').innerText(), /tagged main/);
    // Every blob went up in the refused run: the retry finds them all and sends none again.
    assert.deepEqual([...new Set(await finalStates(page))], ['exists']);
    assert.equal(uploadedBytes(proxy.requests()), 0);
    const digest = ((await page.getByTestId('export-done-digest').textContent()) ?? '').match(/sha256:[0-9a-f]{64}/)?.[0];
    assert.equal(await manifestDigest('team/strict', 'main'), digest);
    await screenshot(page, 'registry-export-retried');
    assert.deepEqual(
      s.errors.filter((e) => !/Failed to load resource/.test(e)),
      [],
    );
  });
  it('explains a push refused for want of a login, logs in from the dialog, and Retry pushes', async () => {
    const { page } = s;
    await openRegistryDialog(`${locked.host}/team/locked:main`);
    await page.getByTestId('export-login-status').getByText(`Not logged in to ${locked.host}`).waitFor();
    await push();
    await page.getByTestId('export-error').waitFor({ timeout: 60_000 });
    assert.match(await page.getByTestId('export-error-words').innerText(), /401 Unauthorized/);
    // The engine's advice when it has some (a refused HEAD carries none yet), else the dialog's own hint: log in.
    const advice = (await page.getByTestId('export-error-fix').count()) ? page.getByTestId('export-error-fix') : page.getByTestId('export-error-hint');
    assert.match(await advice.innerText(), /log in/i);
    // The login form is right there, tied to the destination's host.
    await page.getByTestId('export-login-toggle').click();
    await page.getByTestId('login-username').fill('alice');
    await page.getByTestId('login-password').fill(PASSWORD);
    await screenshot(page, 'registry-export-login');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('export-login-status').getByText(`Logged in to ${locked.host} as alice.`).waitFor();
    assert.ok(!(await page.content()).includes(PASSWORD), 'the page never holds the password again');
    await recordStates(page);
    await page.getByTestId('export-retry').click();
    await page.getByTestId('export-done-digest').waitFor({ timeout: 60_000 });
    assert.match(await page.getByTestId('export-done-digest').innerText(), /tagged main/);
    await screenshot(page, 'registry-export-login-retried');
  });
  it('a push that fails mid-blob resumes on Retry: the bar says resumed and only the rest goes up', async () => {
    const { page } = s;
    // A cache with two big layers (about 14 and 11 MiB): each goes up as an 8 MiB PATCH and a final PUT.
    const big = join(tmp, 'big');
    const gen = await generateCache(big, { seed: 'e2e-push-retry', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 24 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    const total = gen.layerDescriptors.reduce((n: number, d: { size: number }) => n + d.size, 0);
    if (await page.getByTestId('export-dialog').count()) await page.keyboard.press('Escape');
    await page.getByTestId('export-dialog').waitFor({ state: 'detached' });
    await page.getByTestId('open-source-input').fill(big);
    await page.getByTestId('open-source-button').click();
    await page.locator('header .title').getByText(big).waitFor();
    // The registry refuses the first big final PUT: that layer's first 8 MiB PATCH is in.
    let refused = false;
    proxy.setFaults((req) => {
      if (refused || req.method !== 'PUT' || !req.path.includes('/blobs/uploads/') || Number(req.headers['content-length'] ?? 0) < MiB) return undefined;
      refused = true;
      return { kind: 'status', status: 400, body: JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'injected refusal of one chunk' }] }) };
    });
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-kind-registry').check();
    await page.getByTestId('export-ref').fill(`${proxy.host}/team/big:main`);
    await page.getByTestId('export-image-manifest').check();
    await push();
    await page.getByTestId('export-error').waitFor({ timeout: 120_000 });
    assert.match(await page.getByTestId('export-error-words').innerText(), /BLOB_UPLOAD_INVALID: injected refusal of one chunk/);
    await screenshot(page, 'registry-export-chunk-refused');

    // The registry takes chunks again; its big final PUTs wait a little, so the resumed bar can be seen.
    proxy.setFaults((req) => (req.method === 'PUT' && req.path.includes('/blobs/uploads/') && Number(req.headers['content-length'] ?? 0) >= MiB ? { kind: 'stall', ms: 400 } : undefined));
    proxy.clear();
    await recordStates(page);
    await page.getByTestId('export-retry').click();
    await page.getByTestId('layer-progress').and(page.locator('[data-state="resumed"]')).first().waitFor();
    await screenshot(page, 'registry-export-resuming');
    // The retry's own clock: never a negative time.
    assert.doesNotMatch(await page.locator('.overall-numbers').innerText(), /-\d+ ?m?s/);
    await page.getByTestId('export-done-digest').waitFor({ timeout: 120_000 });
    await screenshot(page, 'registry-export-resumed');
    const seen = await statesSeen(page);
    const sent = uploadedBytes(proxy.requests());
    assert.match(await page.getByTestId('export-done-counts').innerText(), /[1-9]\d* resumed/);
    // The layer refused after its first 8 MiB sends only what the registry did not have.
    assert.ok(sent <= total - 8 * MiB, `the retry sent ${sent} bytes of ${total}`);
    assert.ok(Object.values(seen).some((states) => states.includes('resumed')), `a bar showed resumed: ${JSON.stringify(seen)}`);
  });
});
