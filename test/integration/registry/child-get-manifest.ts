/**
 * Run as a child process by client-tls.test.ts, so NODE_EXTRA_CA_CERTS is in force from process start
 * (Node reads it only then): fetches one manifest and prints `{ok, digest}` or `{ok:false, code, message}`.
 * Arguments: <reference> [certs.d root].
 */
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';

const [ref, certsDir] = process.argv.slice(2);
const client = new RegistryClient({ credentials: new StaticCredentialStore(), certsDirs: certsDir ? [certsDir] : [], retry: { maxRetries: 0 } });
try {
  const m = await client.getManifest(ref);
  process.stdout.write(JSON.stringify({ ok: true, digest: m.digest }));
} catch (err) {
  const e = err as { code?: string; message?: string };
  process.stdout.write(JSON.stringify({ ok: false, code: e.code, message: e.message }));
} finally {
  client.close();
}
