import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orderScopes, repositoryScope } from '../../../electron/engine/registry/auth';
import { TokenCache } from '../../../electron/engine/registry/token-cache';

describe('token cache', () => {
  const make = () => {
    let now = 0;
    return { cache: new TokenCache(() => now), at: (ms: number) => (now = ms) };
  };
  const pull = [repositoryScope('team/a', 'pull')];

  it('keeps a token 60 s when expires_in is absent, and expires it after', () => {
    const { cache, at } = make();
    cache.set('h', pull, { token: 't1' });
    at(59_999);
    assert.equal(cache.get('h', pull), 't1');
    at(60_000);
    assert.equal(cache.get('h', pull), null);
  });

  it('honours expires_in, raising lifetimes shorter than 60 s to 60 s (as docker)', () => {
    const { cache, at } = make();
    cache.set('h', pull, { token: 'long', expiresIn: 300 });
    cache.set('h', [repositoryScope('team/b', 'pull')], { token: 'short', expiresIn: 5 });
    at(59_000);
    assert.equal(cache.get('h', [repositoryScope('team/b', 'pull')]), 'short');
    at(299_000);
    assert.equal(cache.get('h', pull), 'long');
    assert.equal(cache.get('h', [repositoryScope('team/b', 'pull')]), null);
    at(300_000);
    assert.equal(cache.get('h', pull), null);
  });

  it('never hands a token for one repository (or host) to another, nor for wider actions', () => {
    const { cache } = make();
    cache.set('h', pull, { token: 'for-a' });
    assert.equal(cache.get('h', [repositoryScope('team/b', 'pull')]), null);
    assert.equal(cache.get('other-host', pull), null);
    assert.equal(cache.get('h', [repositoryScope('team/a', 'pull,push')]), null);
    assert.equal(cache.get('h', [...pull, repositoryScope('team/b', 'pull')]), null);
  });

  it('treats the same scopes in another order as the same token, and forgets a refused one', () => {
    const { cache } = make();
    const two = [repositoryScope('x', 'pull,push'), repositoryScope('y', 'pull')];
    cache.set('h', two, { token: 't' });
    assert.equal(cache.get('h', [...two].reverse()), 't');
    cache.delete('h', two);
    assert.equal(cache.get('h', two), null);
  });

  it('shares one fetch between concurrent requests for the same key, and refetches after expiry', async () => {
    const { cache, at } = make();
    let fetches = 0;
    const fetch = async () => ({ token: `t${++fetches}` });
    const got = await Promise.all([cache.getOrFetch('h', pull, fetch), cache.getOrFetch('h', pull, fetch), cache.getOrFetch('h', pull, fetch)]);
    assert.deepEqual(got, ['t1', 't1', 't1']);
    at(61_000);
    assert.equal(await cache.getOrFetch('h', pull, fetch), 't2');
  });

  it('puts push scopes first (some registries read only the first scope)', () => {
    assert.deepEqual(orderScopes(['repository:src:pull', 'repository:dst:pull,push', 'repository:src:pull']), ['repository:dst:pull,push', 'repository:src:pull']);
    assert.deepEqual(orderScopes(['repository:a:push', 'repository:b:pull']), ['repository:a:push', 'repository:b:pull']);
  });
});
