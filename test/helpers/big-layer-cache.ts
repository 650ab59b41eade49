/**
 * A BuildKit-shaped local cache (`FROM base; COPY . /app; RUN build`, as in two-builds.ts) whose COPY
 * layer holds one large file of random text, so that reading it takes long enough for progress reports
 * to be seen. Real GNU tar and gzip; the diffIDs are hashed from the tars.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** A gzip layer blob of `files` moved into the layout, with its descriptor (diffID from the tar). */
async function layer(dir: string, work: string, name: string, files: Record<string, Buffer | string>) {
  const root = join(work, name);
  for (const [p, body] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), body);
  }
  const tar = join(work, `${name}.tar`);
  const tops = [...new Set(Object.keys(files).map((p) => p.split('/')[0]))];
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-cf', tar, '-C', root, ...tops]);
  const diffID = await fileDigest(tar);
  execFileSync('gzip', ['-n', '-1', '-f', tar]);
  const digest = await fileDigest(`${tar}.gz`);
  const size = (await readFile(`${tar}.gz`)).length;
  await rename(`${tar}.gz`, join(dir, 'blobs', 'sha256', digest.slice(7)));
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size, annotations: { 'containerd.io/uncompressed': diffID, 'buildkit/createdat': '2026-11-29T10:00:00Z' } };
}

async function putJson(dir: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = sha(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** The cache written into `dir` (an OCI layout, image-manifest form); layer entry 1 is the COPY layer with `app/big.txt` of `megabytes` MB. */
export async function writeBigLayerCache(dir: string, work: string, megabytes: number): Promise<{ bigLayer: number; path: string }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await mkdir(work, { recursive: true });
  // Base64 of random bytes: gzip keeps about three quarters of it, so the blob is large too.
  const big = Buffer.from(randomBytes(Math.ceil((megabytes * 1e6 * 3) / 4)).toString('base64'));
  const descs = [
    await layer(dir, work, 'base', { 'etc/os-release': 'ID=test\n', 'bin/sh': '#!sh\n' }),
    await layer(dir, work, 'copy', { 'app/big.txt': big, 'app/small.txt': 'small\n' }),
    await layer(dir, work, 'run', { 'app/dist/out.txt': 'built\n' }),
  ];
  const createdAt = '2026-11-29T10:00:00Z';
  const contextSum = sha(`big-context-${megabytes}`);
  const config = {
    layers: [{ blob: descs[0].digest, parent: -1 }, { blob: descs[1].digest, parent: 0 }, { blob: descs[2].digest, parent: 1 }],
    records: [
      { digest: sha('base-image@0') },
      { digest: sha(`context-definition|${contextSum}@0`) },
      { digest: sha(`${contextSum}@-1`) },
      { digest: sha('copy-op@0'), inputs: [[{ link: 0 }], [{ link: 2 }, { selector: sha('/app'), link: 1 }]], layers: [{ layer: 1, createdAt }] },
      { digest: sha('run-op@0'), inputs: [[{ link: 3 }]], layers: [{ layer: 2, createdAt }] },
    ],
  };
  const configBlob = await putJson(dir, config);
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.buildkit.cacheconfig.v0', config: { mediaType: 'application/vnd.buildkit.cacheconfig.v0', ...configBlob }, layers: descs };
  const manifestBlob = await putJson(dir, manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: manifest.mediaType, ...manifestBlob, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  return { bigLayer: 1, path: 'app/big.txt' };
}
