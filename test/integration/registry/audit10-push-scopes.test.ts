/**
 * Audit of issue 10, security: "scopes are not reused between repositories" and "a cross-repo mount
 * asks only for pull on the source", shown on the wire of a real distribution 2.8 with Bearer tokens:
 * every request a push sends to /v2/<repo>/ carries a token granted for <repo> (push for writes),
 * never a token of the repository pushed before, and a mount's token holds only pull on the source.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExportProgress } from '../../../shared/export/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES } from '../../helpers/fixtures';
import { registrySuite } from '../../helpers/registry/suite';
import type { ProxyRequest } from '../../helpers/registry/index';

interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** The `access` claim of the Bearer token a request carried (null without one). */
function tokenAccess(r: ProxyRequest): Access[] | null {
  const h = String(r.headers.authorization ?? '');
  const m = /^Bearer (\S+)$/i.exec(h);
  if (!m) return null;
  const payload = JSON.parse(Buffer.from(m[1].split('.')[1], 'base64url').toString('utf8')) as { access?: Access[] };
  return payload.access ?? [];
}

/** The repository a /v2/<repo>/(blobs|manifests)/… path names. */
function repoOf(path: string): string | null {
  return /^\/v2\/(.+?)\/(?:blobs|manifests)\//.exec(path)?.[1] ?? null;
}

describe('push token scopes on the wire', () => {
  const reg = registrySuite('audit10-scopes', {
    processCacheDir: true,
    registry: { auth: 'token', users: { alice: 'alice-secret' }, tokenOptions: { grants: [{ account: 'alice', repository: 'team/*', actions: ['pull', 'push'] }] } },
    client: (proxy) => ({ env: {}, credentials: new StaticCredentialStore({ [proxy.host]: { username: 'alice', password: 'alice-secret' } }) }),
  });

  const push = async (repo: string, historyFile: string | null) => {
    const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
    const events: ExportProgress[] = [];
    await runExport({ opened: src, dest: 'unused', options: { tag: 't' }, registry: { ...parseRegistryDestination(`${reg.proxy.host}/${repo}:t`)!, client: reg.client, stateDir: join(reg.tmp, 'uploads'), historyFile }, onProgress: (p) => events.push(p), verifyMemo: null });
    return (events.at(-1)?.layers ?? []).map((l) => l.state);
  };

  it('each repository pushed in turn by one client gets its own token; writes carry push on that repository only', async () => {
    for (const repo of ['team/a', 'team/c']) {
      reg.proxy.clear();
      const states = await push(repo, null);
      assert.ok(states.length > 0 && states.every((s) => s === 'done'), `${repo}: ${states.join(',')}`);
      const authed = reg.proxy.requests().filter((r) => repoOf(r.path) && tokenAccess(r));
      assert.ok(authed.length > 0);
      for (const r of authed) {
        const access = tokenAccess(r)!;
        const names = access.map((a) => a.name);
        assert.deepEqual(names, [repo], `${r.method} ${r.path} carried a token for ${names.join(', ')}`);
        if (r.method !== 'GET' && r.method !== 'HEAD') assert.ok(access[0].actions.includes('push'), `${r.method} ${r.path}: ${access[0].actions.join(',')}`);
      }
    }
  });

  it('a mount from the repository pushed before: its token holds pull (only) on the source, pull,push on the target', async () => {
    const historyFile = join(reg.tmp, 'history.json');
    await push('team/a', historyFile);
    reg.proxy.clear();
    const states = await push('team/b', historyFile);
    assert.ok(states.length > 0 && states.every((s) => s === 'mounted'), states.join(','));
    const mounts = reg.proxy.requests().filter((r) => r.method === 'POST' && /[?&]mount=/.test(r.path) && tokenAccess(r));
    assert.ok(mounts.length > 0);
    for (const r of mounts) {
      const access = tokenAccess(r)!;
      const byName = Object.fromEntries(access.map((a) => [a.name, [...a.actions].sort()]));
      assert.deepEqual(byName, { 'team/b': ['pull', 'push'], 'team/a': ['pull'] }, `${r.path}: ${JSON.stringify(access)}`);
    }
    // Nothing else sent to team/b carries the source's scope.
    for (const r of reg.proxy.requests().filter((q) => repoOf(q.path) === 'team/b' && !/[?&]mount=/.test(q.path) && tokenAccess(q))) {
      assert.ok(tokenAccess(r)!.every((a) => a.name === 'team/b' || (a.name === 'team/a' && a.actions.join() === 'pull')), `${r.method} ${r.path}: ${JSON.stringify(tokenAccess(r))}`);
    }
  });
});
