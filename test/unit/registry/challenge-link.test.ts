import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges } from '../../../electron/engine/registry/challenge';
import { nextLink } from '../../../electron/engine/registry/link-header';

describe('WWW-Authenticate', () => {
  it('reads a Bearer challenge whose quoted scope holds commas', () => {
    const [c] = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
    assert.equal(c.scheme, 'bearer');
    assert.deepEqual(c.params, { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' });
  });

  it('splits several challenges in one header and in repeated headers', () => {
    const cs = parseChallenges(['Basic realm="Registry Realm", Bearer realm="https://a/t",error="insufficient_scope"', 'Negotiate']);
    assert.deepEqual(cs.map((c) => c.scheme), ['basic', 'bearer', 'negotiate']);
    assert.equal(cs[0].params.realm, 'Registry Realm');
    assert.equal(cs[1].params.error, 'insufficient_scope');
  });

  it('accepts unquoted values, spaces around =, escaped quotes and odd case', () => {
    const [c] = parseChallenges('BEARER Realm = https://a/t , service=svc, scope="x \\"y\\""');
    assert.equal(c.scheme, 'bearer');
    assert.deepEqual(c.params, { realm: 'https://a/t', service: 'svc', scope: 'x "y"' });
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(''), []);
  });
});

describe('Link pagination', () => {
  const base = new URL('https://r.example/v2/repo/tags/list');
  it('follows rel="next", relative to the request', () => {
    assert.equal(nextLink('</v2/repo/tags/list?last=b&n=2>; rel="next"', base)?.href, 'https://r.example/v2/repo/tags/list?last=b&n=2');
    assert.equal(nextLink('<https://r.example/v2/x?n=1>; rel=next', base)?.href, 'https://r.example/v2/x?n=1');
  });
  it('picks next among several links and ignores others', () => {
    assert.equal(nextLink('</first>; rel="first", </v2/n?last=c>; rel="next"', base)?.pathname, '/v2/n');
    assert.equal(nextLink('</prev>; rel="prev"', base), null);
    assert.equal(nextLink(undefined, base), null);
  });
});
