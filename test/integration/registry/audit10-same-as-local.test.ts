/**
 * Audit of issue 10, "does everything the local export does": with the conversion options
 * (compression, compression-level, force-compression) and both forms, a push to a real
 * distribution 2.8 gives the same cache.manifest descriptor and the same progress lines as the
 * local export of the same source with the same options, and a re-export skips every converted
 * layer (HEAD, `exists`) without reading or converting the source again into new bytes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExportOptions, ExportProgress } from '../../../shared/export/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES } from '../../helpers/fixtures';
import { registrySuite } from '../../helpers/registry/suite';

const CASES: { name: string; fixture: string; options: ExportOptions }[] = [
  { name: 'zstd forced, level 3, image-manifest', fixture: 'buildkit-v0.24-image-manifest-gzip', options: { 'image-manifest': true, 'oci-mediatypes': true, compression: 'zstd', 'compression-level': 3, 'force-compression': true } },
  { name: 'uncompressed forced, index form', fixture: 'buildkit-v0.24-index-gzip', options: { 'image-manifest': false, 'oci-mediatypes': true, compression: 'uncompressed', 'force-compression': true } },
  { name: 'gzip forced from zstd, level 1, image-manifest', fixture: 'buildkit-v0.24-mixed-gzip-zstd', options: { 'image-manifest': true, 'oci-mediatypes': true, compression: 'gzip', 'compression-level': 1, 'force-compression': true } },
];

/** Every progress line, in a stable order (layers go in parallel lanes). */
function lines(events: ExportProgress[]): string[] {
  return events.flatMap((e) => e.lines ?? []).sort();
}

describe('a registry target does what the local export does', () => {
  const reg = registrySuite('audit10-same', { processCacheDir: true });

  const target = (ref: string) => ({ ...parseRegistryDestination(ref)!, client: reg.client, stateDir: join(reg.tmp, 'uploads'), historyFile: null });

  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: the same descriptor and progress lines as the local export; a re-export finds every blob`, async () => {
      const src = await openCacheSource(join(FIXTURES, c.fixture));
      const options = { ...c.options, tag: 'same' };
      const localEvents: ExportProgress[] = [];
      const local = await runExport({ opened: src, dest: join(reg.tmp, `local-${i}`), options, onProgress: (p) => localEvents.push(p), verifyMemo: null });
      assert.ok(local.counts.converted > 0, 'the options convert layers');
      const pushEvents: ExportProgress[] = [];
      const ref = `${reg.proxy.host}/audit10/same-${i}:same`;
      const pushed = await runExport({ opened: src, dest: 'unused', options, registry: target(ref), onProgress: (p) => pushEvents.push(p), verifyMemo: null });
      assert.deepEqual(pushed.descriptor, local.descriptor);
      assert.equal(pushed.config, local.config);
      assert.deepEqual(lines(pushEvents), lines(localEvents));
      assert.equal(pushed.counts.converted, local.counts.converted);
      const manifest = await reg.client.getManifest(ref);
      assert.equal(manifest.digest, local.descriptor!.digest);
      assert.equal(manifest.mediaType, local.descriptor!.mediaType);

      // Again: the converted blobs are there, so every layer ends `exists` and no blob byte goes up.
      reg.proxy.clear();
      const again: ExportProgress[] = [];
      const second = await runExport({ opened: src, dest: 'unused', options, registry: target(ref), onProgress: (p) => again.push(p), verifyMemo: null });
      assert.deepEqual(second.descriptor, local.descriptor);
      const states = (again.at(-1)?.layers ?? []).map((l) => l.state);
      assert.ok(states.length > 0 && states.every((s) => s === 'exists'), `final states: ${states.join(',')}`);
      const sent = reg.proxy.requests().filter((r) => r.path.includes('/blobs/')).reduce((n, r) => n + r.bytesIn, 0);
      assert.equal(sent, 0, 'no blob bytes on a re-export');
    });
  }
});
