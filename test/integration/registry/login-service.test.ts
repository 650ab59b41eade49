/**
 * The app's login requests (the engine service behind Electron main and browser mode) against a real
 * distribution 2.8 with Bearer tokens: registryLogin answers only `{ loggedInAs }`, stores through a
 * per-registry credHelpers helper, registryStatus says who we are, the tags then list with the token
 * flow, and registryLogout erases it; a refused login's error (as it crosses the bridge) holds no
 * password.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toContractError } from '../../../shared/contract/errors';
import { createService } from '../../../electron/engine/service';
import type { Service } from '../../../electron/engine/service';
import { installCredentialHelpers } from '../../helpers/credential-helper';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const PASSWORD = 'service-Token-s3cret';
const INDEX = join(FIXTURES, 'buildkit-v0.24-index-gzip');

describe('registry login through the service (token server, credHelpers)', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let service: Service;
  let dockerConfig: string;
  let helpers: Awaited<ReturnType<typeof installCredentialHelpers>>;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-login-service-'));
    registry = await startRegistry({ auth: 'token', users: { bob: PASSWORD } });
    await pushFixture(registry, INDEX, 'team/cache:index', { username: 'bob', password: PASSWORD });
    const bin = join(tmp, 'bin');
    await mkdir(bin);
    helpers = await installCredentialHelpers(bin, ['per-host', 'global']);
    dockerConfig = join(tmp, 'docker');
    await mkdir(dockerConfig);
    // credHelpers for this registry wins over credsStore, as in docker.
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ credsStore: 'global', credHelpers: { [registry.host]: 'per-host' } }));
    const env = { ...process.env, PATH: helpers.path, DOCKER_CONFIG: dockerConfig, XDG_CACHE_HOME: join(tmp, 'cache') };
    service = createService({ startupSource: null, mode: 'browser', emit: () => undefined, env });
  });
  after(async () => {
    await service?.dispose();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('a refused login says so, stores nothing, and its error carries no password', async () => {
    const err = await service.registryLogin({ registry: registry.host, username: 'bob', password: `${PASSWORD}-wrong` }).then(
      () => assert.fail('a wrong password was accepted'),
      (e: unknown) => e,
    );
    const wire = JSON.stringify(toContractError(err));
    assert.match(wire, /the registry refused these credentials/);
    assert.ok(!wire.includes(PASSWORD), wire);
    assert.deepEqual((await helpers.calls()).filter((c) => c.action === 'store'), []);
    assert.deepEqual(await service.registryStatus({ registry: registry.host }), { loggedInAs: null });
  });

  it('logs in (answering only the name), stores through the per-host helper, and the tags list', async () => {
    const answer = await service.registryLogin({ registry: registry.host, username: 'bob', password: PASSWORD });
    assert.deepEqual(answer, { loggedInAs: 'bob' });
    const stores = (await helpers.calls()).filter((c) => c.action === 'store');
    assert.deepEqual(stores.map((c) => [c.helper, JSON.parse(c.input) as unknown]), [['docker-credential-per-host', { ServerURL: registry.host, Username: 'bob', Secret: PASSWORD }]]);
    assert.ok(!(await readFile(join(dockerConfig, 'config.json'), 'utf8')).includes(PASSWORD));
    assert.deepEqual(await service.registryStatus({ registry: registry.host }), { loggedInAs: 'bob' });
    const tags = await service.listRegistryTags({ repository: `${registry.host}/team/cache` });
    assert.deepEqual(tags.rows.map((r) => [r.tag, r.form, r.kind]), [['index', 'index', 'cache']]);
    // The token flow, with bob's credentials, asked for pull on this repository.
    assert.ok(registry.tokenServer!.requests().some((r) => r.account === 'bob' && r.scopes.includes('repository:team/cache:pull') && r.status === 200));
  });

  it('logs out through the helper; the registry then refuses the listing', async () => {
    assert.deepEqual(await service.registryLogout({ registry: registry.host }), { loggedOut: true });
    assert.deepEqual((await helpers.calls()).filter((c) => c.action === 'erase').map((c) => [c.helper, c.input.trim()]), [['docker-credential-per-host', registry.host]]);
    assert.deepEqual(await service.registryStatus({ registry: registry.host }), { loggedInAs: null });
    await assert.rejects(service.listRegistryTags({ repository: `${registry.host}/team/cache` }), (e: Error) => /401|UNAUTHORIZED|denied|insufficient_scope/i.test(e.message));
  });
});
