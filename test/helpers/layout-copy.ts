/** Writable copies of the read-only fixtures, and small edits tests make to them (extra tags, orphans). */
import { createHash } from 'node:crypto';
import { chmod, cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const sha256Of = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Copies a layout and makes every folder and file writable again (the shared fixtures are read-only). */
export async function writableCopy(from: string, to: string): Promise<string> {
  await cp(from, to, { recursive: true });
  const walk = async (dir: string): Promise<void> => {
    await chmod(dir, 0o755);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else await chmod(join(dir, e.name), 0o644);
    }
  };
  await walk(to);
  return to;
}

/** Writes bytes as blob `digest` (their own digest unless told otherwise, to plant a corrupt blob). */
export async function putBlob(layout: string, bytes: Uint8Array | string, digest = sha256Of(bytes)): Promise<string> {
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
  return digest;
}

interface IndexDoc {
  manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
}

export async function readIndex(layout: string): Promise<IndexDoc> {
  return JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as IndexDoc;
}

/** Adds an index.json entry tagged `tag` for a manifest written from `manifest`; returns the manifest's digest. */
export async function addTaggedManifest(layout: string, tag: string, manifest: unknown): Promise<string> {
  const text = JSON.stringify(manifest);
  const digest = await putBlob(layout, text);
  const index = await readIndex(layout);
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: Buffer.byteLength(text), annotations: { 'org.opencontainers.image.ref.name': tag } });
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  return digest;
}

/** Rewrites the manifest of index entry 0 through `edit` and points index.json at the result. */
export async function editTopManifest(layout: string, edit: (manifest: Record<string, unknown>) => void): Promise<string> {
  const index = await readIndex(layout);
  const top = index.manifests[0];
  const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as Record<string, unknown>;
  edit(manifest);
  const text = JSON.stringify(manifest);
  const digest = await putBlob(layout, text);
  index.manifests[0] = { ...top, digest, size: Buffer.byteLength(text) };
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  return digest;
}
