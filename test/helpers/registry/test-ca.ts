/** A throwaway certificate authority made with openssl: a server cert for 127.0.0.1/localhost and a client cert. */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, run } from './processes';

export interface TestCA {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A new docker-style `certs.d` root holding `<host>/ca.crt` (and `client.cert`/`client.key` with `client`). */
  certsDir(host: string, opts?: { client?: boolean }): string;
  /** A PEM file to point NODE_EXTRA_CA_CERTS at. */
  extraCaFile(): string;
  dispose(): void;
}

// EC keys: as good as RSA for these tests and much faster to generate on a busy 2-core machine.
const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function signed(dir: string, name: string, subject: string, ext: string, caCert: string, caKey: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  run('openssl', ['req', ...KEY, '-keyout', key, '-out', csr, '-subj', subject]);
  run('openssl', ['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '3', '-sha256', '-extfile', extFile]);
  return { cert, key };
}

export async function makeTestCA(opts: { commonName?: string } = {}): Promise<TestCA> {
  const dir = makeTempDir('ca');
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  run('openssl', [
    'req', '-x509', ...KEY, '-keyout', caKey, '-out', caCert, '-days', '3', '-sha256',
    '-subj', `/CN=${opts.commonName ?? 'Cachescope Test CA'}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const server = signed(dir, 'server', '/CN=127.0.0.1',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
    caCert, caKey);
  const client = signed(dir, 'client', '/CN=cachescope-test-client',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    caCert, caKey);
  let n = 0;
  return {
    dir,
    caCert,
    caKey,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    certsDir(host, o = {}) {
      const root = join(dir, `certs.d-${++n}`);
      const hostDir = join(root, host);
      mkdirSync(hostDir, { recursive: true });
      copyFileSync(caCert, join(hostDir, 'ca.crt'));
      if (o.client) {
        copyFileSync(client.cert, join(hostDir, 'client.cert'));
        copyFileSync(client.key, join(hostDir, 'client.key'));
      }
      return root;
    },
    extraCaFile() {
      const file = join(dir, `extra-ca-${++n}.pem`);
      copyFileSync(caCert, file);
      return file;
    },
    dispose: () => removeTempDir(dir),
  };
}
