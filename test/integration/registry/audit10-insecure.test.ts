/**
 * Audit of issue 10, "plus registry.insecure": a push to a TLS registry whose certificate nothing
 * trusts is refused (the certificate named, nothing pushed), and the same destination with BuildKit's
 * `registry.insecure=true` (the CLI's and the dialog's toggle, both written into the destination text
 * the service reads) pushes, against a real distribution 2.8 over HTTPS.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createService } from '../../../electron/engine/service';
import type { Service } from '../../../electron/engine/service';
import type { ExportFinished } from '../../../shared/contract/index';
import type { ExportProgress } from '../../../shared/export/types';
import { FIXTURES } from '../../helpers/fixtures';
import { startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const SOURCE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

describe('registry.insecure on a push to an untrusted TLS registry', () => {
  let registry: RunningRegistry;
  let service: Service;
  let tmp: string;
  const events: { name: string; payload: unknown }[] = [];
  const waiters: (() => void)[] = [];
  const savedXdg = process.env.XDG_CACHE_HOME;

  const finished = async (jobId: string): Promise<ExportFinished> => {
    for (;;) {
      const hit = events.find((e) => e.name === 'exportFinished' && (e.payload as ExportFinished).jobId === jobId);
      if (hit) return hit.payload as ExportFinished;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-audit10-insecure-'));
    process.env.XDG_CACHE_HOME = join(tmp, 'process-cache');
    registry = await startRegistry({ tls: true });
    const dockerConfig = join(tmp, 'docker');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: {} }));
    service = createService({
      startupSource: null,
      mode: 'browser',
      emit: (name, payload) => {
        events.push({ name, payload });
        for (const w of waiters.splice(0)) w();
      },
      // No certs.d and no system trust for the test CA.
      env: { PATH: process.env.PATH, HOME: join(tmp, 'home'), DOCKER_CONFIG: dockerConfig, XDG_CACHE_HOME: join(tmp, 'service-cache') },
    });
  });
  after(async () => {
    await service?.dispose();
    await registry?.stop();
    if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = savedXdg;
    await rm(tmp, { recursive: true, force: true });
  });

  it('without it: refused for the certificate, explained with both fixes (certs.d, registry.insecure=true)', { timeout: 60_000 }, async () => {
    const { cacheId } = await service.openCache({ source: SOURCE });
    const { jobId } = await service.startExport({ cacheId, dest: `${registry.host}/team/tls:t`, options: {} });
    const outcome = await finished(jobId);
    assert.equal(outcome.ok, false, JSON.stringify(outcome));
    assert.ok(!outcome.ok);
    const message = outcome.error.message;
    assert.match(message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.match(message, new RegExp(`meaning: the TLS certificate of ${registry.host} is not trusted`));
    assert.match(message, new RegExp(`fix: .*certs\\.d/${registry.host}/ca\\.crt.*registry\\.insecure=true`));
    await service.closeCache({ cacheId });
  });

  it('with type=registry,ref=…,registry.insecure=true: pushed, every layer done', { timeout: 60_000 }, async () => {
    const { cacheId } = await service.openCache({ source: SOURCE });
    const { jobId } = await service.startExport({ cacheId, dest: `type=registry,ref=${registry.host}/team/tls:t,registry.insecure=true`, options: {} });
    const outcome = await finished(jobId);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const last = events.filter((e) => e.name === 'exportProgress' && (e.payload as ExportProgress).jobId === jobId).at(-1)!.payload as ExportProgress;
    assert.ok(last.layers.length > 0);
    assert.deepEqual([...new Set(last.layers.map((l) => l.state))], ['done']);
    await service.closeCache({ cacheId });
  });
});
