import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { loadHostTls } from '../../../electron/engine/registry/tls-config';

const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nMIIB${'A'.repeat(n)}\n-----END CERTIFICATE-----\n`;

describe("docker's certs.d per registry", () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-certsd-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('adds every *.crt of <host:port>/ in both roots to the default roots and NODE_EXTRA_CA_CERTS', async () => {
    const sys = join(base, 'etc');
    const user = join(base, 'home');
    await mkdir(join(sys, 'reg.example:5000'), { recursive: true });
    await mkdir(join(user, 'reg.example:5000'), { recursive: true });
    await mkdir(join(sys, 'reg.example'), { recursive: true });
    await writeFile(join(sys, 'reg.example:5000', 'ca.crt'), pem(1));
    await writeFile(join(user, 'reg.example:5000', 'extra.crt'), pem(2) + pem(3));
    await writeFile(join(sys, 'reg.example', 'ca.crt'), pem(9));
    const extra = join(base, 'extra.pem');
    await writeFile(extra, pem(4));
    const tls = await loadHostTls('reg.example:5000', [sys, user], { NODE_EXTRA_CA_CERTS: extra });
    assert.ok(tls.ca);
    assert.equal(tls.ca.length, rootCertificates.length + 4);
    assert.deepEqual(tls.ca.slice(0, rootCertificates.length), [...rootCertificates]);
    assert.deepEqual(tls.ca.slice(rootCertificates.length).map((c) => c.length), [pem(4), pem(1), pem(2), pem(3)].map((c) => c.trim().length));
    assert.equal(tls.cert, undefined);
  });

  it('leaves Node defaults alone when certs.d has nothing for the host', async () => {
    const tls = await loadHostTls('nothing.example', [join(base, 'absent')], {});
    assert.deepEqual(tls, { sources: [] });
  });

  it('pairs client.cert with client.key, and names the file when one is missing', async () => {
    const root = join(base, 'client');
    await mkdir(join(root, 'c.example'), { recursive: true });
    await writeFile(join(root, 'c.example', 'client.cert'), 'CERT');
    await writeFile(join(root, 'c.example', 'client.key'), 'KEY');
    const tls = await loadHostTls('c.example', [root], {});
    assert.equal(tls.cert, 'CERT');
    assert.equal(tls.key, 'KEY');
    assert.equal(tls.ca, undefined);
    await mkdir(join(root, 'd.example'), { recursive: true });
    await writeFile(join(root, 'd.example', 'client.cert'), 'CERT');
    await assert.rejects(loadHostTls('d.example', [root], {}), (err: unknown) => err instanceof CacheError && err.message.includes(join(root, 'd.example', 'client.cert')) && /client\.key/.test(err.message));
  });
});
