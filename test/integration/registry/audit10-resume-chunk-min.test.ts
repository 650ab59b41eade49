/**
 * Audit of issue 10: resume (a retry, or a run after a killed one) against a registry that announces
 * `OCI-Chunk-Min-Length` on the upload POST only. The resumed session never sees a POST, so the minimum
 * must come with the saved upload state: otherwise the resumed PATCHes go at the default 8 MiB and the
 * registry refuses them (400 SIZE_INVALID). Real distribution 2.8 behind the GHCR-like imitation.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CHUNK_SIZE } from '../../../electron/engine/registry/uploads';
import { imitateRegistry } from '../../helpers/registry/index';
import type { FaultFn } from '../../helpers/registry/index';
import { registrySuite } from '../../helpers/registry/suite';

const MiB = 1 << 20;
const MIN = 12 * MiB;

describe('a resumed upload keeps the registry\'s OCI-Chunk-Min-Length', () => {
  let refuseSecondPatch = true;
  const strict = imitateRegistry('ghcr', { chunkMinLength: MIN });
  let patches = 0;
  // The second PATCH of the first run is refused outright (the session stays as it was: 12 MiB held).
  const faults: FaultFn = (req) => {
    if (refuseSecondPatch && req.method === 'PATCH' && ++patches === 2) {
      return { kind: 'status', status: 400, body: JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'injected refusal' }] }) };
    }
    return strict(req);
  };
  const reg = registrySuite('audit10-resume-min', { proxy: { faults } });

  it('the second run resumes at 12 MiB and goes on in chunks of the minimum, sending only the rest', async () => {
    assert.ok(DEFAULT_CHUNK_SIZE < MIN);
    const size = 40 * MiB + 17;
    const bytes = randomBytes(size);
    const file = join(reg.tmp, 'blob');
    await writeFile(file, bytes);
    const desc = { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size };
    const repo = { registry: reg.proxy.host, repository: 'audit10/min' };
    const stateDir = join(reg.tmp, 'uploads');

    await assert.rejects(reg.client.pushBlob(repo, desc, file, { stateDir }), /injected refusal/);
    refuseSecondPatch = false;
    reg.proxy.clear();
    const states: string[] = [];
    const r = await reg.client.pushBlob(repo, desc, file, { stateDir, onState: (s, at) => states.push(`${s}@${at}`) });
    const reqs = reg.proxy.requests().filter((q) => q.path.includes('/blobs/uploads/'));
    const show = reqs.map((q) => `${q.method} ${q.status} ${q.bytesIn}`).join('\n');
    assert.equal(r.outcome, 'resumed', show);
    assert.equal(r.resumedFrom, MIN);
    assert.deepEqual(states, [`resumed@${MIN}`]);
    assert.ok(!reqs.some((q) => q.method === 'POST'), `no new session:\n${show}`);
    const patches = reqs.filter((q) => q.method === 'PATCH');
    assert.ok(patches.length > 0);
    assert.deepEqual([...new Set(patches.map((q) => `${q.bytesIn} ${q.status}`))], [`${MIN} 202`], show);
    assert.equal(r.bytesSent, size - MIN);
    assert.ok(await reg.client.headBlob(repo, desc.digest));
  });
});
