/**
 * A push the token server does not allow: distribution's own `insufficient_scope` answer, explained
 * (meaning and fix); the token request put the push scope first and the password never shows.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES } from '../../helpers/fixtures';
import { startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

let registry: RunningRegistry;

before(async () => {
  registry = await startRegistry({
    auth: 'token',
    tokenOptions: { grants: [{ account: 'alice', repository: 'readonly/*', actions: ['pull'] }] },
  });
});
after(async () => {
  await registry?.stop();
});

it('insufficient_scope on push: the registry words, what they mean, and how to fix it', async () => {
  const password = registry.users.alice;
  const client = new RegistryClient({ env: {}, credentials: new StaticCredentialStore({ [registry.host]: { username: 'alice', password } }) });
  try {
    const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
    await assert.rejects(
      runExport({ opened: src, dest: 'unused', options: { tag: 't' }, registry: { reference: { registry: registry.host, repository: 'readonly/cache', tag: 't' }, insecure: false, client, stateDir: null }, verifyMemo: null }),
      (err: Error) => {
        assert.match(err.message, /401 Unauthorized/);
        assert.match(err.message, /meaning: the credentials for .* are not allowed to push to readonly\/cache \(insufficient_scope\)/);
        assert.match(err.message, /fix: log in with an account that has push rights/);
        assert.ok(!err.message.includes(password));
        return true;
      },
    );
    const asked = registry.tokenServer!.requests().filter((r) => r.scopes.some((s) => s.includes('push')));
    assert.ok(asked.length > 0);
    assert.match(asked[0].scopes[0], /^repository:readonly\/cache:pull,push$/);
  } finally {
    client.close();
  }
});
