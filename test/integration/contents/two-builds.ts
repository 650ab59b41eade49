/**
 * Two BuildKit-shaped local caches of `FROM base; COPY . /app; RUN build` whose only difference is
 * the build context: one file of the COPY layer. Layers are real tars (GNU tar, gzip); the configs are
 * shaped as BuildKit writes them (content-checksum root plus definition key in the COPY's slot).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(dir: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** A gzip layer of `files` (path → content), with its diffID. */
async function layer(work: string, name: string, files: Record<string, string>): Promise<{ tgz: Buffer; diffID: string }> {
  const root = join(work, name);
  for (const [p, body] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), body);
  }
  const tar = join(work, `${name}.tar`);
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-cf', tar, '-C', root, ...Object.keys(files).map((p) => p.split('/')[0]).filter((v, i, a) => a.indexOf(v) === i)]);
  execFileSync('gzip', ['-n', '-f', tar]);
  const tgz = await readFile(`${tar}.gz`);
  return { tgz, diffID: sha(execFileSync('gzip', ['-dc', `${tar}.gz`])) };
}

export const BASE_FILES = { 'etc/os-release': 'ID=test\n', 'bin/sh': '#!sh\n' };
export const CONTEXT_FILES = { 'app/src/app.ts': 'export const v = 1;\n', 'app/package.json': '{"name":"app"}\n', 'app/README.md': '# app\n' };
export const RUN_FILES = { 'app/dist/out.txt': 'built\n' };

/** Writes the cache for one build context into `dir` (an OCI layout, image-manifest form). */
export async function writeBuildCache(dir: string, work: string, context: Record<string, string>, revision: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await mkdir(work, { recursive: true });
  const layers = [await layer(work, `base-${revision}`, BASE_FILES), await layer(work, `copy-${revision}`, context), await layer(work, `run-${revision}`, RUN_FILES)];
  const descs = [];
  for (const l of layers) {
    const { digest, size } = await putBlob(dir, l.tgz);
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size, annotations: { 'containerd.io/uncompressed': l.diffID, 'buildkit/createdat': '2026-11-29T10:00:00Z' } });
  }
  const contextSum = sha(JSON.stringify(context));
  const createdAt = '2026-11-29T10:00:00Z';
  const config = {
    layers: [{ blob: descs[0].digest, parent: -1 }, { blob: descs[1].digest }, { blob: descs[2].digest, parent: 1 }],
    records: [
      { digest: sha('base-image@0') },
      { digest: sha(`context-definition|${contextSum}@0`) },
      { digest: sha(`${contextSum}@-1`) },
      { digest: sha('copy-op@0'), inputs: [[{ link: 0 }], [{ link: 2 }, { selector: sha('/app'), link: 1 }]], layers: [{ layer: 1, createdAt }] },
      { digest: sha('run-op@0'), inputs: [[{ link: 3 }]], layers: [{ layer: 2, createdAt }] },
    ],
  };
  const configBlob = await putBlob(dir, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.buildkit.cacheconfig.v0',
    config: { mediaType: 'application/vnd.buildkit.cacheconfig.v0', ...configBlob },
    layers: descs,
  };
  const manifestBlob = await putBlob(dir, Buffer.from(JSON.stringify(manifest)));
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: manifest.mediaType, ...manifestBlob, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
  );
}
