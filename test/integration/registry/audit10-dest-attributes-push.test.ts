/**
 * A `--cache-to` string copied as it is: `cachescope export SRC 'type=registry,ref=HOST/REPO:TAG,
 * image-manifest=…,oci-mediatypes=…'` pushes the form those attributes ask for, to a real
 * distribution 2.8, as `--opt` would; the registry then serves that form under the tag.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES } from '../../helpers/fixtures';
import { skopeoInspectRaw, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';
import { runCli } from '../export/cli-process';

const SRC = join(FIXTURES, 'buildkit-v0.24-index-gzip');

describe('a copied --cache-to type=registry string, attributes included', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let env: Record<string, string>;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-audit10-dest-attrs-'));
    registry = await startRegistry();
    env = { CACHESCOPE_CACHE_DIR: join(tmp, 'cache'), XDG_CACHE_HOME: join(tmp, 'xdg'), DOCKER_CONFIG: join(tmp, 'docker') };
  });
  after(async () => {
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  for (const [attrs, mediaType] of [
    ['mode=max,image-manifest=true,oci-mediatypes=true', 'application/vnd.oci.image.manifest.v1+json'],
    ['mode=max,image-manifest=false,oci-mediatypes=false', 'application/vnd.docker.distribution.manifest.list.v2+json'],
  ] as const) {
    it(`${attrs}: the registry serves ${mediaType.split('/')[1]}`, async () => {
      const tag = attrs.includes('image-manifest=true') ? 'manifest' : 'list';
      const out = await runCli(['export', SRC, `type=registry,ref=${registry.host}/attrs/cache:${tag},${attrs}`, '--json'], env);
      assert.equal(out.code, 0, out.stderr || out.stdout.slice(-800));
      const raw = JSON.parse((await skopeoInspectRaw(registry, `attrs/cache:${tag}`)).toString('utf8')) as { mediaType: string };
      assert.equal(raw.mediaType, mediaType);
    });
  }

  it('the same option set otherwise with --opt is refused before anything is pushed', async () => {
    const out = await runCli(['export', SRC, `type=registry,ref=${registry.host}/attrs/cache:clash,image-manifest=true`, '--opt', 'image-manifest=false'], env);
    assert.notEqual(out.code, 0);
    assert.match(out.stderr + out.stdout, /image-manifest given twice: "true" in the destination and "false" in --opt image-manifest=/);
    assert.deepEqual(registry.requests().filter((r) => r.path.includes('/attrs/cache/manifests/clash')), []);
  });
});
