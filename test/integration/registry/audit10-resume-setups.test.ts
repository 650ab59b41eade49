/**
 * Audit of issue 10: resume across runs in each of the four setups (no auth, htpasswd, Bearer tokens,
 * TLS through certs.d), against a real distribution 2.8 behind the counting proxy. A first run is
 * refused on its third PATCH (the upload state on disk says 8 MiB are in); a second run by a new client
 * (nothing cached: no token, no connection, as a new process) asks the saved Location where the upload
 * stands, resumes there, and sends only the rest; the blob lands whole.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { FaultFn } from '../../helpers/registry/index';
import { startSetup } from './push-proof-helpers';
import type { PushSetup, SetupKind } from './push-proof-helpers';

const MiB = 1 << 20;
const CHUNK = 4 * MiB;

for (const kind of ['none', 'htpasswd', 'token', 'tls'] as SetupKind[]) {
  describe(`resume across runs, ${kind}`, () => {
    let setup: PushSetup;
    let tmp: string;

    before(async () => {
      tmp = await mkdtemp(join(tmpdir(), `cachescope-audit10-resume-${kind}-`));
      setup = await startSetup(kind, tmp);
    });
    after(async () => {
      await setup?.stop();
      await rm(tmp, { recursive: true, force: true });
    });

    it('a second run, by a new client, resumes from the saved Location and sends only the rest', async () => {
      const size = 5 * CHUNK + 999;
      const bytes = randomBytes(size);
      const file = join(tmp, 'blob');
      await writeFile(file, bytes);
      const desc = { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size };
      const repo = { registry: setup.host, repository: 'audit10/resume' };
      const stateDir = join(tmp, 'uploads');
      let patches = 0;
      const refuseThird: FaultFn = (req) =>
        req.method === 'PATCH' && ++patches === 3 ? { kind: 'status', status: 400, body: JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'injected refusal' }] }) } : undefined;
      setup.proxy.setFaults(refuseThird);
      const first = new RegistryClient(setup.clientOptions);
      try {
        await assert.rejects(first.pushBlob(repo, desc, file, { stateDir, chunkSize: CHUNK }), /injected refusal/);
      } finally {
        first.close();
      }
      setup.proxy.setFaults(undefined);
      assert.ok((await readdir(stateDir, { recursive: true })).some((f) => String(f).endsWith('.json')), 'the upload state is on disk');

      setup.proxy.clear();
      const second = new RegistryClient(setup.clientOptions);
      try {
        const r = await second.pushBlob(repo, desc, file, { stateDir, chunkSize: CHUNK });
        const reqs = setup.proxy.requests().filter((q) => q.path.includes('/blobs/'));
        const show = reqs.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn}`).join('\n');
        assert.equal(r.outcome, 'resumed', show);
        assert.equal(r.resumedFrom, 2 * CHUNK, show);
        assert.equal(r.bytesSent, size - 2 * CHUNK, show);
        assert.equal(reqs.filter((q) => q.method === 'POST').length, 0, `no new session:\n${show}`);
        assert.equal(reqs.reduce((n, q) => n + q.bytesIn, 0), size - 2 * CHUNK, show);
        assert.equal((await second.headBlob(repo, desc.digest))?.size, size);
      } finally {
        second.close();
      }
      assert.deepEqual((await readdir(stateDir, { recursive: true })).filter((f) => String(f).endsWith('.json')), [], 'the state is dropped once the blob landed');
    });
  });
}
