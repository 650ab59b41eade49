/**
 * The registry requests' payload checks (run by main and the server before the engine): shapes,
 * length limits, and a password that is never quoted back in an error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { REQUEST_NAMES } from '../../../shared/contract/requests';
import { validateParams } from '../../../shared/contract/validate';

function refusal(name: Parameters<typeof validateParams>[0], raw: unknown): string {
  try {
    validateParams(name, raw);
  } catch (err) {
    assert.ok(err instanceof CacheError);
    assert.equal(err.code, 'bad-request');
    return err.message;
  }
  assert.fail(`${name} accepted ${JSON.stringify(raw).slice(0, 200)}`);
}

describe('registry requests', () => {
  it('are part of the contract', () => {
    for (const name of ['listRegistryTags', 'deleteRegistryTag', 'registryLogin', 'registryLogout', 'registryStatus'] as const) assert.ok(REQUEST_NAMES.includes(name));
  });

  it('accept well-formed payloads as they are', () => {
    assert.deepEqual(validateParams('listRegistryTags', { repository: '127.0.0.1:5000/team/cache' }), { repository: '127.0.0.1:5000/team/cache' });
    assert.deepEqual(validateParams('deleteRegistryTag', { repository: 'r.example/a', tag: 'v1.2_x-y', force: false }), { repository: 'r.example/a', tag: 'v1.2_x-y', force: false });
    assert.deepEqual(validateParams('registryLogin', { registry: 'r.example', username: 'alice', password: 'p a:ss' }), { registry: 'r.example', username: 'alice', password: 'p a:ss' });
    assert.deepEqual(validateParams('registryStatus', { registry: 'r.example:5000' }), { registry: 'r.example:5000' });
  });

  it('refuse wrong shapes, unknown fields and names with white space', () => {
    assert.match(refusal('listRegistryTags', { repository: 'a b/c' }), /"repository" must not contain white space/);
    assert.match(refusal('listRegistryTags', { repository: 'r/a', extra: 1 }), /unknown field "extra"/);
    assert.match(refusal('deleteRegistryTag', { repository: 'r/a', tag: 'x' }), /"force" must be a boolean/);
    assert.match(refusal('deleteRegistryTag', { repository: 'r/a', tag: '-x', force: true }), /"tag" must be letters/);
    assert.match(refusal('deleteRegistryTag', { repository: 'r/a', tag: 'x'.repeat(129), force: true }), /"tag" is longer than 128/);
    assert.match(refusal('registryLogin', { registry: 'r', username: 'a' }), /"password" must be a non-empty string/);
    assert.match(refusal('registryLogout', { registry: 'r'.repeat(513) }), /"registry" is longer than 512/);
  });

  it('limit the password and never quote it back', () => {
    const secret = `hunter2-${'s'.repeat(20000)}`;
    const message = refusal('registryLogin', { registry: 'r.example', username: 'alice', password: secret });
    assert.match(message, /"password" is longer than 16384 characters/);
    assert.ok(!message.includes('hunter2'));
    const nul = refusal('registryLogin', { registry: 'r.example', username: 'alice', password: 'hunter2\0x' });
    assert.ok(!nul.includes('hunter2'));
    assert.match(refusal('registryLogin', { registry: 'r.example', username: 'u'.repeat(257), password: 'x' }), /"username" is longer than 256/);
  });
});
