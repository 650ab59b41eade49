/**
 * A small real cache whose result runs: layer 0 holds a static busybox (Debian's busybox-static),
 * layer 1 a script, layer 2 a file the script prints. Written as BuildKit's local exporter writes
 * an image-manifest-form cache (gzip layers with containerd.io/uncompressed and buildkit/createdat).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildTar } from '../../../scripts/cache-generator/tar';
import { marshalConfig, marshalManifest } from '../../../shared/cache/serialize';
import { Annotation, MediaType } from '../../../shared/oci/media-types';

export const BUSYBOX = '/bin/busybox';
export const SCRIPT = '#!/bin/busybox sh\necho "hello from cachescope: $(/bin/busybox cat /etc/message)"\n/bin/busybox ls /app\n';
/** What the container prints (stdout). */
export const EXPECTED_OUTPUT = 'hello from cachescope: image export works\nrun.sh\n';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BusyboxCache {
  dir: string;
  /** Record with the full 3-layer result. */
  resultRecord: number;
  diffIDs: string[];
  /** The uncompressed layer tars, base first. */
  tars: Uint8Array[];
}

export async function writeBusyboxCache(dir: string): Promise<BusyboxCache> {
  const busybox = await readFile(BUSYBOX);
  // The image has no libc: a dynamically linked busybox (Debian's `busybox`, not `busybox-static`) cannot run in it.
  if (busybox.includes('/ld-linux')) throw new Error(`${BUSYBOX} is dynamically linked: install Debian's busybox-static`);
  const mtime = 1767225600;
  const enc = new TextEncoder();
  const tars = [
    buildTar([
      { name: 'bin', type: 'directory', mtime },
      { name: 'bin/busybox', type: 'file', mode: 0o755, mtime, data: busybox },
    ]),
    buildTar([
      { name: 'app', type: 'directory', mtime },
      { name: 'app/run.sh', type: 'file', mode: 0o755, mtime, data: enc.encode(SCRIPT) },
    ]),
    buildTar([
      { name: 'etc', type: 'directory', mtime },
      { name: 'etc/message', type: 'file', mtime, data: enc.encode('image export works\n') },
    ]),
  ];
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Uint8Array) => {
    const d = sha(b);
    await writeFile(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const times = ['2026-01-01T10:00:00.000000001Z', '2026-01-01T10:00:01.5Z', '2026-01-01T10:00:02Z'];
  const layers = [];
  for (const [i, t] of tars.entries()) {
    const gz = gzipSync(t);
    layers.push({ mediaType: MediaType.ociLayerGzip, digest: await put(gz), size: gz.length, annotations: { [Annotation.uncompressed]: sha(t), [Annotation.createdAt]: times[i] } });
  }
  const src = (n: number) => sha(enc.encode(`source ${n}`));
  const config = marshalConfig({
    layers: [{ blob: layers[0].digest, parent: -1 }, { blob: layers[1].digest, parent: 0 }, { blob: layers[2].digest, parent: 1 }],
    records: [
      { digest: src(0) },
      { digest: src(1) },
      { digest: sha(enc.encode('base')), inputs: [[{ link: 0 }]], layers: [{ layer: 0, createdAt: times[0] }] },
      { digest: sha(enc.encode('copy script')), inputs: [[{ link: 2 }], [{ selector: sha(enc.encode('sel')), link: 1 }]], layers: [{ layer: 1, createdAt: times[1] }] },
      { digest: sha(enc.encode('message')), inputs: [[{ link: 3 }]], layers: [{ layer: 2, createdAt: times[2] }] },
      // Not needed to reach the result: must stay out of the inline cache.
      { digest: sha(enc.encode('unrelated')), inputs: [[{ link: 1 }]] },
    ],
  });
  const configBytes = enc.encode(config);
  const configDigest = await put(configBytes);
  const manifest = enc.encode(marshalManifest({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.cacheConfigV0, digest: configDigest, size: configBytes.length }, layers }));
  const manifestDigest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifest.length, annotations: { [Annotation.refName]: 'latest' } }] }),
  );
  return { dir, resultRecord: 4, diffIDs: tars.map(sha), tars };
}
