/** Shared by the gc tests: writable copies of fixtures and an independent view of what is on disk. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, cp, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface RawDescriptor {
  digest: string;
  mediaType: string;
  size: number;
  annotations?: Record<string, string>;
}

export const sha256 = (data: string | Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export const blobFile = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

/** A writable copy of a read-only fixture. */
export async function copyFixture(src: string, dest: string): Promise<string> {
  await cp(src, dest, { recursive: true, preserveTimestamps: true });
  const fix = async (p: string) => {
    const st = await stat(p);
    await chmod(p, st.isDirectory() ? 0o755 : 0o644);
    if (st.isDirectory()) for (const e of await readdir(p)) await fix(join(p, e));
  };
  await fix(dest);
  return dest;
}

export function presentDigests(dir: string): string[] {
  return readdirSync(join(dir, 'blobs', 'sha256')).map((h) => `sha256:${h}`).sort();
}

/** Independent of gc.ts: what an image-manifest cache references (the manifest, its config, its layers). */
export function referencedBy(dir: string, manifestDigest: string): Set<string> {
  const m = JSON.parse(readFileSync(blobFile(dir, manifestDigest), 'utf8')) as { config: RawDescriptor; layers: RawDescriptor[] };
  return new Set([manifestDigest, m.config.digest, ...m.layers.map((l) => l.digest)]);
}

export function readIndexJson(dir: string): { manifests: RawDescriptor[] } {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: RawDescriptor[] };
}

/**
 * Replaces the first index.json entry's manifest by `mutate(manifest)`, stored under its own new
 * digest (so size and digest checks pass and only the mutated field is wrong). Returns the new file.
 */
export async function rewriteTaggedManifest(dir: string, mutate: (m: Record<string, unknown>) => void): Promise<string> {
  const index = readIndexJson(dir);
  const m = JSON.parse(readFileSync(blobFile(dir, index.manifests[0].digest), 'utf8')) as Record<string, unknown>;
  mutate(m);
  const text = JSON.stringify(m);
  const digest = sha256(text);
  await writeFile(blobFile(dir, digest), text);
  index.manifests[0] = { ...index.manifests[0], digest, size: Buffer.byteLength(text) };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return blobFile(dir, digest);
}
