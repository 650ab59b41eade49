/**
 * The Registry view in Chromium against a real loopback distribution 2.8 (htpasswd, deletes enabled)
 * with the real engine behind browser mode: the repository is refused until the login form logs in
 * (the page only ever shows "logged in as …"), then its tags are listed and sortable, a tag is
 * deleted only after the confirmation (and one sharing its manifest says so), and a tag opens with a
 * click and two ticked tags are diffed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../electron/engine/registry/credentials';
import { FIXTURES } from '../helpers/fixtures';
import { writeImageLayout } from '../helpers/image-layout';
import { pushFixture, startRegistry } from '../helpers/registry/index';
import type { RunningRegistry } from '../helpers/registry/index';
import { seriousViolations } from './axe';
import { openSession, screenshot } from './browser';
import type { Session } from './browser';

const PASSWORD = 'e2e-Registry-s3cret';
const IMAGE_MANIFEST = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const INDEX = join(FIXTURES, 'buildkit-v0.24-index-gzip');
const MIXED = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
const DOCKER_LIST = join(FIXTURES, 'buildkit-v0.24-docker-list-gzip');

describe('Registry view (Chromium, real engine, real registry)', () => {
  let s: Session;
  let registry: RunningRegistry;
  let tmp: string;
  let repo: string;
  const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };

  const tagsInRegistry = async (): Promise<string[]> => {
    const client = new RegistryClient({ credentials: new StaticCredentialStore({ [registry.host]: { username: 'alice', password: PASSWORD } }) });
    try {
      return (await client.listTags({ registry: registry.host, repository: 'team/cache' })).sort();
    } finally {
      client.close();
    }
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-e2e-registry-'));
    // The server runs in this process: its engine reads docker's config and the blob cache from here.
    process.env.DOCKER_CONFIG = join(tmp, 'docker');
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg-cache');
    registry = await startRegistry({ auth: 'htpasswd', users: { alice: PASSWORD }, deleteEnabled: true });
    repo = `${registry.host}/team/cache`;
    const push = (dir: string, tag: string) => pushFixture(registry, dir, `team/cache:${tag}`, { username: 'alice', password: PASSWORD });
    const plain = join(tmp, 'plain');
    await writeImageLayout(plain, { content: 'not a cache' });
    await push(INDEX, 'index');
    await push(IMAGE_MANIFEST, 'main');
    await push(IMAGE_MANIFEST, 'main-copy');
    await push(MIXED, 'zstd');
    await push(DOCKER_LIST, 'docker');
    await push(plain, 'plain');
    s = await openSession(null);
  });
  after(async () => {
    await s?.close();
    await registry?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('refuses the repository until the login form logs in, showing only "logged in as"', async () => {
    const { page } = s;
    await page.getByTestId('tab-registry').click();
    await page.getByTestId('registry-input').fill(repo);
    await page.getByTestId('registry-list').click();
    await page.getByTestId('registry-error').waitFor();
    assert.match(await page.getByTestId('registry-error').innerText(), /401 Unauthorized: UNAUTHORIZED: authentication required/);
    await page.getByTestId('login-status').getByText(/Not logged in to/).waitFor();

    await page.getByTestId('login-username').fill('alice');
    await page.getByTestId('login-password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-error').waitFor();
    assert.match(await page.getByTestId('login-error').innerText(), /the registry refused these credentials/);
    await screenshot(page, 'registry-login-refused');

    await page.getByTestId('login-password').fill(PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-status').getByText('alice').waitFor();
    assert.equal(await page.getByTestId('login-status').innerText(), `Logged in to ${registry.host} as alice.`);
    // The refused listing is asked again with the new login.
    await page.getByTestId('registry-summary').waitFor();
    assert.equal(await page.getByTestId('registry-error').count(), 0);
    // The form forgets the password; the page never holds it again.
    assert.equal(await page.getByTestId('login-password').inputValue(), '');
    const config = JSON.parse(await readFile(join(tmp, 'docker', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(config.auths[registry.host].auth, Buffer.from(`alice:${PASSWORD}`).toString('base64'));
    assert.ok(!(await page.content()).includes(PASSWORD));
    assert.ok(!(await page.content()).includes('not-the-password'));
    await screenshot(page, 'registry-logged-in');
  });

  it('lists the tags with form, kind, media types, bytes and dates, sortable', async () => {
    const { page } = s;
    const rows = page.getByTestId('tag-row');
    await page.getByTestId('registry-summary').getByText('6 tags').waitFor();
    assert.equal(await page.getByTestId('registry-summary').innerText(), `${repo}: 6 tags, 5 caches`);
    assert.equal(await rows.count(), 6);
    const rowOf = (tag: string) => rows.filter({ has: page.getByTestId('tag-open').getByText(tag, { exact: true }) });
    assert.match(await rowOf('index').innerText(), /index\s+cache\s+OCI gzip/);
    assert.match(await rowOf('main').innerText(), /image-manifest\s+cache\s+OCI gzip/);
    assert.match(await rowOf('zstd').innerText(), /image-manifest\s+cache\s+OCI gzip\+zstd/);
    assert.match(await rowOf('docker').innerText(), /index\s+cache\s+Docker gzip/);
    assert.match(await rowOf('plain').innerText(), /image\s+neither\s+OCI gzip/);
    assert.match(await rowOf('main').innerText(), /main-copy/);
    assert.match(await rowOf('index').innerText(), /\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    // The full nanosecond buildkit/createdat is one hover away.
    assert.match((await rowOf('index').locator('code.created').getAttribute('title')) ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    // Sorting by Total, descending on the second click: the biggest first.
    const header = page.getByRole('columnheader', { name: /Total/ }).getByRole('button');
    await header.click();
    await header.click();
    const firstTags = await rows.getByTestId('tag-open').allInnerTexts();
    assert.equal(firstTags[firstTags.length - 1], 'plain', `smallest last: ${firstTags.join(', ')}`);
    await screenshot(page, 'registry-tags');
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
  });

  it('deletes a tag only after the confirmation, and warns when other tags share its manifest', async () => {
    const { page } = s;
    const rows = page.getByTestId('tag-row');
    const rowOf = (tag: string) => rows.filter({ has: page.getByTestId('tag-open').getByText(tag, { exact: true }) });

    await rowOf('main').getByTestId('tag-delete').click();
    await page.getByTestId('tag-delete-dialog').waitFor();
    assert.match(await page.getByTestId('tag-delete-shared').innerText(), /also tagged main-copy: that tag goes too/);
    assert.equal(await page.getByTestId('tag-delete-confirm').innerText(), 'Delete 2 tags');
    await screenshot(page, 'registry-delete-shared');
    await page.keyboard.press('Escape');
    await page.getByTestId('tag-delete-dialog').waitFor({ state: 'detached' });

    await rowOf('docker').getByTestId('tag-delete').click();
    await page.getByTestId('tag-delete-dialog').waitFor();
    assert.deepEqual(await tagsInRegistry(), ['docker', 'index', 'main', 'main-copy', 'plain', 'zstd'], 'nothing is deleted before the confirmation');
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
    await screenshot(page, 'registry-delete-confirm');
    await page.getByTestId('tag-delete-confirm').click();
    await page.getByTestId('registry-notice').getByText(/Deleted manifest sha256:[0-9a-f]{64} \(tag docker\)/).waitFor();
    await page.getByTestId('registry-summary').getByText('5 tags').waitFor();
    assert.deepEqual(await tagsInRegistry(), ['index', 'main', 'main-copy', 'plain', 'zstd']);
    await screenshot(page, 'registry-after-delete');
    assert.deepEqual(s.errors.filter((e) => !/401|Failed to load resource/.test(e)), []);
  });

  it('opens a tag with a click and diffs two ticked tags', async () => {
    const { page } = s;
    await page.getByTestId('tab-registry').click();
    const rows = page.getByTestId('tag-row');
    const rowOf = (tag: string) => rows.filter({ has: page.getByTestId('tag-open').getByText(tag, { exact: true }) });
    await rowOf('index').getByTestId('tag-open').click();
    await page.getByTestId('summary-layerEntries').waitFor();
    assert.match(await page.locator('header .title').innerText(), new RegExp(`${repo.replace(/[.]/g, '\\.')}:index`));
    await screenshot(page, 'registry-opened-tag');

    await page.getByTestId('tab-registry').click();
    await rowOf('main').getByTestId('tag-pick').check();
    await rowOf('zstd').getByTestId('tag-pick').check();
    await page.getByTestId('registry-diff').click();
    await page.getByTestId('tab-diff').and(page.locator('[aria-selected="true"]')).waitFor();
    // A is the first ticked tag, B the second.
    await page.getByTestId('diff-summary').waitFor();
    const text = await page.getByTestId('diff-summary').innerText();
    assert.match(text, /A · before\s+…\/team\/cache:main\b/);
    assert.match(text, /B · after\s+…\/team\/cache:zstd\b/);
    await screenshot(page, 'registry-diff');
  });
});
