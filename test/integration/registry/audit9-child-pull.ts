/**
 * Run as a child process by audit9-direct-tls-proxy.test.ts, so NODE_EXTRA_CA_CERTS is in force from
 * process start: opens a registry cache, downloads the given layers into a fresh blob cache and prints
 * `{ok, digests, direct}` (direct: how the download threads' GETs ended) or `{ok:false, code, message}`.
 * Arguments: <reference> <blob cache root> <digest:size>...
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { directDownloadCounts } from '../../../electron/engine/registry/direct-download';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';

const [ref, root, ...layers] = process.argv.slice(2);
const access = createRegistryAccess({ blobCache: { root }, client: { credentials: new StaticCredentialStore(), certsDirs: [], retry: { maxRetries: 0 } } });
try {
  const opened = await openCacheSource(ref, { registry: access });
  const digests: string[] = [];
  for (const l of layers) {
    const i = l.lastIndexOf(':');
    const file = await opened.blobs.get({ digest: l.slice(0, i), size: Number(l.slice(i + 1)) });
    digests.push(`sha256:${createHash('sha256').update(await readFile(file.path)).digest('hex')}`);
    await file.release();
  }
  process.stdout.write(JSON.stringify({ ok: true, digests, direct: directDownloadCounts() }));
} catch (err) {
  const e = err as { code?: string; message?: string };
  process.stdout.write(JSON.stringify({ ok: false, code: e.code, message: e.message }));
} finally {
  access.close();
}
