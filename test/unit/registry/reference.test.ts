import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import {
  apiHost,
  authKey,
  formatReference,
  isLoopbackHost,
  parseReference,
  parseRegistryCacheOption,
} from '../../../electron/engine/registry/reference';

const D = `sha256:${'a'.repeat(64)}`;

function refusal(fn: () => unknown, field: string): CacheError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CacheError, String(err));
    assert.equal(err.code, 'invalid-source');
    assert.equal(err.details?.field, field, err.message);
    assert.match(err.message, new RegExp(`${field.replace('.', '\\.')}:`));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('registry references (docker normalisation)', () => {
  it('puts names without a registry on Docker Hub, with library/ for one-component names', () => {
    assert.deepEqual(parseReference('alpine'), { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
    assert.deepEqual(parseReference('user/cache:build'), { registry: 'docker.io', repository: 'user/cache', tag: 'build' });
    assert.deepEqual(parseReference('index.docker.io/alpine:3'), { registry: 'docker.io', repository: 'library/alpine', tag: '3' });
    assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
    for (const alias of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) assert.equal(authKey(alias), 'https://index.docker.io/v1/');
  });

  it('treats the first component as a registry only with a dot, a port, localhost or upper case', () => {
    assert.deepEqual(parseReference('registry.example:5000/team/cache:v1'), { registry: 'registry.example:5000', repository: 'team/cache', tag: 'v1' });
    assert.deepEqual(parseReference('localhost/cache'), { registry: 'localhost', repository: 'cache', tag: 'latest' });
    assert.deepEqual(parseReference('127.0.0.1:5000/cache@' + D), { registry: '127.0.0.1:5000', repository: 'cache', digest: D });
    assert.deepEqual(parseReference('[::1]:5000/cache:t'), { registry: '[::1]:5000', repository: 'cache', tag: 't' });
    assert.equal(parseReference('team/cache').registry, 'docker.io');
    assert.equal(parseReference('Myhost/cache').registry, 'myhost');
  });

  it('keeps both tag and digest, and formats back with the registry', () => {
    const ref = parseReference(`ghcr.io/o/r:tag@${D}`);
    assert.deepEqual(ref, { registry: 'ghcr.io', repository: 'o/r', tag: 'tag', digest: D });
    assert.equal(formatReference(ref), `ghcr.io/o/r:tag@${D}`);
    assert.equal(formatReference(parseReference('alpine')), 'docker.io/library/alpine:latest');
  });

  it('refuses bad references naming the field at fault', () => {
    refusal(() => parseReference('host.example/Upper/case'), 'repository');
    refusal(() => parseReference('host.example/repo:-bad'), 'tag');
    refusal(() => parseReference('host.example/repo@sha256:abc'), 'digest');
    refusal(() => parseReference('host.example:99999/repo'), 'registry');
    refusal(() => parseReference('https://host.example/repo'), 'reference');
    refusal(() => parseReference(''), 'reference');
    refusal(() => parseReference('host.example/'), 'repository');
  });

  it('knows loopback hosts as Go does: localhost and loopback IPs only', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['10.0.0.1', 'localhost.example', 'registry', '128.0.0.1']) assert.equal(isLoopbackHost(h), false, h);
  });

  it("reads BuildKit's type=registry,ref=… option with registry.insecure", () => {
    const opt = parseRegistryCacheOption('type=registry,ref=reg.example:5000/cache:main,mode=max,registry.insecure=true');
    assert.deepEqual(opt.reference, { registry: 'reg.example:5000', repository: 'cache', tag: 'main' });
    assert.equal(opt.insecure, true);
    assert.deepEqual(opt.attributes, { mode: 'max' });
    assert.equal(parseRegistryCacheOption('type=registry,ref=r.example/c').insecure, false);
    refusal(() => parseRegistryCacheOption('type=local,src=/tmp/x'), 'type');
    refusal(() => parseRegistryCacheOption('type=registry'), 'ref');
    refusal(() => parseRegistryCacheOption('type=registry,ref=r.example/c,registry.insecure=yes'), 'registry.insecure');
    refusal(() => parseRegistryCacheOption('type=registry,ref=r.example/C'), 'repository');
  });
});
