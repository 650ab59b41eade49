/**
 * Small OCI layouts of plain images (not caches), written for registry tests: one gzip layer and an
 * image config, optionally carrying inline cache (`moby.buildkit.cache.v0`). Pushed with pushFixture.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(dir: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** A one-file tar (512-byte header + padded body + two zero blocks), enough for a real layer. */
function tinyTar(name: string, body: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${Buffer.byteLength(body).toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const data = Buffer.alloc(Math.ceil(Buffer.byteLength(body) / 512) * 512);
  data.write(body);
  return Buffer.concat([header, data, Buffer.alloc(1024)]);
}

export interface ImageLayoutOptions {
  /** Text inside the image's one file (makes the layer distinct). */
  content: string;
  /** Inline cache records (the decoded `moby.buildkit.cache.v0` array) to put in the config. */
  inlineRecords?: unknown[];
  tag?: string;
}

/** Writes an OCI layout holding one image manifest tagged `tag` (default latest) into `dir`. */
export async function writeImageLayout(dir: string, options: ImageLayoutOptions): Promise<{ manifestDigest: string; manifestSize: number; totalBytes: number }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const tar = tinyTar('hello.txt', options.content);
  const layer = await putBlob(dir, gzipSync(tar));
  const config: Record<string, unknown> = {
    architecture: 'amd64',
    os: 'linux',
    created: '2025-01-02T03:04:05Z',
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    history: [{ created: '2025-01-02T03:04:05Z', created_by: 'COPY hello.txt /' }],
  };
  if (options.inlineRecords) config['moby.buildkit.cache.v0'] = Buffer.from(JSON.stringify(options.inlineRecords)).toString('base64');
  const cfg = await putBlob(dir, Buffer.from(JSON.stringify(config)));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    }),
  );
  const m = await putBlob(dir, manifest);
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': options.tag ?? 'latest' } }] }),
  );
  return { manifestDigest: m.digest, manifestSize: m.size, totalBytes: m.size + cfg.size + layer.size };
}
