import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { proxyAuthorization, proxyConfigFromEnv, proxyFor } from '../../../electron/engine/registry/proxy';

const via = (env: Record<string, string>, url: string) => proxyFor(proxyConfigFromEnv(env), new URL(url))?.href ?? null;

describe('proxies as Go httpproxy (docker) picks them', () => {
  it('uses HTTPS_PROXY for https and HTTP_PROXY for http, upper case first, bare host:port as http://', () => {
    const env = { HTTPS_PROXY: 'proxy.example:3128', http_proxy: 'http://plain.example:8080', https_proxy: 'http://lower.example:1' };
    assert.equal(via(env, 'https://r.example/v2/'), 'http://proxy.example:3128/');
    assert.equal(via(env, 'http://r.example/v2/'), 'http://plain.example:8080/');
    assert.equal(via({}, 'https://r.example/'), null);
  });

  it('never proxies localhost or loopback IPs', () => {
    const env = { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1' };
    for (const u of ['https://localhost:5000/v2/', 'http://127.0.0.1:5000/v2/', 'http://[::1]:5000/v2/', 'https://127.9.9.9/']) assert.equal(via(env, u), null, u);
  });

  it('NO_PROXY: * , domains with subdomains, leading-dot domains, ports, IPs and CIDRs', () => {
    const base = { HTTPS_PROXY: 'http://p:1' };
    assert.equal(via({ ...base, NO_PROXY: '*' }, 'https://r.example/'), null);
    const env = { ...base, NO_PROXY: 'example.com, .only-subs.org, *.star.net, ports.io:8443, 10.1.2.3, 192.168.0.0/16, [2001:db8::1]:443' };
    assert.equal(via(env, 'https://example.com/'), null);
    assert.equal(via(env, 'https://reg.example.com/'), null);
    assert.equal(via(env, 'https://notexample.com/'), 'http://p:1/');
    assert.equal(via(env, 'https://only-subs.org/'), 'http://p:1/');
    assert.equal(via(env, 'https://a.only-subs.org/'), null);
    assert.equal(via(env, 'https://x.star.net/'), null);
    assert.equal(via(env, 'https://ports.io:8443/'), null);
    assert.equal(via(env, 'https://ports.io/'), 'http://p:1/');
    assert.equal(via(env, 'https://10.1.2.3:5000/'), null);
    assert.equal(via(env, 'https://10.1.2.4/'), 'http://p:1/');
    assert.equal(via(env, 'https://192.168.44.5/'), null);
    assert.equal(via(env, 'https://[2001:db8::1]/'), null);
    assert.equal(via(env, 'https://[2001:db8::1]:444/'), 'http://p:1/');
    assert.equal(via({ ...base, no_proxy: 'example.com' }, 'https://example.com/'), null);
  });

  it('sends proxy user-info as Proxy-Authorization and refuses SOCKS with the variable named', () => {
    assert.equal(proxyAuthorization(new URL('http://u%40x:p%3Aw@p:1')), `Basic ${Buffer.from('u@x:p:w').toString('base64')}`);
    assert.equal(proxyAuthorization(new URL('http://p:1')), undefined);
    assert.throws(() => proxyConfigFromEnv({ HTTPS_PROXY: 'socks5://p:1080' }), (err: unknown) => err instanceof CacheError && /HTTPS_PROXY/.test(err.message));
  });
});
