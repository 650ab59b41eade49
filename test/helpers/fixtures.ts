/** Where the real BuildKit caches are: read at run time from the shared folder beside the checkout, never copied. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = process.env.CACHESCOPE_FIXTURES ?? join(REPO, '..', 'shared', 'fixtures');

if (!existsSync(FIXTURES)) throw new Error(`the shared fixtures are missing: expected ${FIXTURES} (set CACHESCOPE_FIXTURES)`);

export const fixture = {
  dto: join(FIXTURES, 'dto-pattern-local-image-manifest', '.docker-cache'),
  fullcycle: join(FIXTURES, 'fullcycle-local-image-manifest', 'docker-cache'),
  drone: join(FIXTURES, 'drone-buildkit-local-oci-index-2021', 'cache'),
  margo: join(FIXTURES, 'margo-sandbox-local-image-manifest', '.buildx-cache'),
  indexOnlySaas: join(FIXTURES, 'index-json-only', 'saasLMS', '.buildx-cache'),
  inlineConfig: join(FIXTURES, 'inline-cache-image-config-eksclustergames', 'config.json'),
  gitlabConfig: join(FIXTURES, 'semireal-gitlab-registry-test-config', 'cache-config.json'),
};
