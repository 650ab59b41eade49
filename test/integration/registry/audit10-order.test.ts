/**
 * Audit of issue 10, "Order: push the config, then the manifest by tag with the right Content-Type",
 * on the wire of a real distribution 2.8 (counting proxy), for the image-manifest form, the OCI index
 * form and the Docker manifest list: every layer lands before the config's upload starts, the config
 * lands before the manifest, and the manifest is the last request: a PUT by tag whose Content-Type is
 * the manifest's media type, with exactly the bytes the registry then serves under that tag.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExportOptions } from '../../../shared/export/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES } from '../../helpers/fixtures';
import { registrySuite } from '../../helpers/registry/suite';

const FORMS: { form: string; mediaType: string; options: ExportOptions }[] = [
  { form: 'image-manifest-gzip', mediaType: 'application/vnd.oci.image.manifest.v1+json', options: { 'image-manifest': true, 'oci-mediatypes': true } },
  { form: 'index-gzip', mediaType: 'application/vnd.oci.image.index.v1+json', options: { 'image-manifest': false, 'oci-mediatypes': true } },
  { form: 'docker-list-gzip', mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', options: { 'image-manifest': false, 'oci-mediatypes': false } },
];

describe('push order on the wire', () => {
  const reg = registrySuite('audit10-order', { processCacheDir: true });

  for (const { form, mediaType, options } of FORMS) {
    it(`${form}: layers, then the config, then the manifest by tag as ${mediaType}`, async () => {
      const src = await openCacheSource(join(FIXTURES, `buildkit-v0.24-${form}`));
      reg.proxy.clear();
      const result = await runExport({ opened: src, dest: 'unused', options: { ...options, tag: 'order' }, registry: { ...parseRegistryDestination(`${reg.proxy.host}/audit10/${form}:order`)!, client: reg.client, stateDir: join(reg.tmp, 'uploads'), historyFile: null }, verifyMemo: null });
      assert.equal(result.descriptor!.mediaType, mediaType);
      const reqs = [...reg.proxy.requests()].sort((a, b) => a.index - b.index);
      const committed = (digest: string) => reqs.findIndex((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/') && decodeURIComponent(r.path).includes(`digest=${digest}`) && r.status === 201);
      const configAt = committed(result.config!);
      assert.ok(configAt >= 0, 'the config was uploaded');
      const configStart = reqs.findIndex((r, i) => i <= configAt && r.path.includes(`/blobs/${result.config}`));
      const layerDigests = [...new Set(src.model.norm.layers.map((l) => l.blob))];
      assert.ok(layerDigests.length > 0);
      for (const d of layerDigests) {
        const at = committed(d);
        assert.ok(at >= 0, `${d} uploaded`);
        assert.ok(at < (configStart >= 0 ? configStart : configAt), `${d} landed before the config's upload began`);
      }
      const manifestPuts = reqs.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'));
      assert.equal(manifestPuts.length, 1);
      const put = manifestPuts[0];
      assert.equal(put, reqs.at(-1), 'the manifest is the last request');
      assert.ok(reqs.indexOf(put) > configAt);
      assert.equal(put.path, `/v2/audit10/${form}/manifests/order`, 'by tag, not by digest');
      assert.equal(put.contentType, mediaType);
      assert.equal(put.status, 201);
      const got = await reg.client.getManifest(`${reg.proxy.host}/audit10/${form}:order`);
      assert.equal(got.digest, result.descriptor!.digest);
      assert.equal(got.mediaType, mediaType);
      assert.equal(put.bytesIn, got.bytes.length);
    });
  }
});
