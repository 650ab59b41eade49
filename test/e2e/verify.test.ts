/** Verify from the Overview hashes every blob in the folder, orphans included, and says how many are not the opened cache's. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../helpers/fixtures';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const DEMO = join(REPO, 'assets', 'demo-cache');

/** Independent of the engine: what the tagged manifest references, read from the raw JSON. */
function referenced(): Set<string> {
  const index = JSON.parse(readFileSync(join(DEMO, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const out = new Set<string>();
  for (const m of index.manifests) {
    out.add(m.digest);
    const doc = JSON.parse(readFileSync(join(DEMO, 'blobs', 'sha256', m.digest.slice(7)), 'utf8')) as { config?: { digest: string }; layers?: { digest: string }[] };
    if (doc.config) out.add(doc.config.digest);
    for (const l of doc.layers ?? []) out.add(l.digest);
  }
  return out;
}

describe('verify in the Overview (Chromium, browser mode, real engine)', () => {
  let s: Session;
  before(async () => {
    s = await openSession(DEMO);
  });
  after(async () => {
    await s?.close();
  });

  it('hashes every blob in the folder and counts the ones that are not the cache\'s own', async () => {
    const { page } = s;
    const files = readdirSync(join(DEMO, 'blobs', 'sha256')).map((h) => `sha256:${h}`);
    const own = referenced();
    const others = files.filter((d) => !own.has(d)).length;
    assert.ok(others > 0, 'the demo cache has orphaned generations');
    await page.getByTestId('verify-button').click();
    const result = page.getByTestId('verify-result');
    await result.waitFor();
    const text = (await result.textContent()) ?? '';
    assert.match(text, new RegExp(`✓ ${files.length} blobs checked`));
    assert.match((await page.getByTestId('verify-others').textContent()) ?? '', new RegExp(`${others} of them belong to other tags or are orphans \\(${others} orphans?\\)`));
    await screenshot(page, 'overview-verify');
  });
});
