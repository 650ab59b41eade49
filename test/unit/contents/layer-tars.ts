/** Tars for the contents tests, made with the real tools (GNU tar, gzip, zstd) and with tar-stream. */
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import type { Header } from 'tar-stream';
import { createGzip } from 'node:zlib';

/** Runs GNU tar in `dir` over `paths`, writing an uncompressed archive to `out` (deterministic owner and order). */
export function gnuTar(dir: string, out: string, paths: string[], extra: string[] = []): void {
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', ...extra, '-cf', out, '-C', dir, ...paths]);
}

/** Compresses `file` in place with the real tool: `file.gz` / `file.zst`. */
export function compressWith(tool: 'gzip' | 'zstd', file: string): string {
  if (tool === 'gzip') execFileSync('gzip', ['-k', '-f', '-n', file]);
  else execFileSync('zstd', ['-q', '-f', file, '-o', `${file}.zst`]);
  return tool === 'gzip' ? `${file}.gz` : `${file}.zst`;
}

export interface PackEntry {
  header: Partial<Header> & { name: string };
  body?: string | Buffer;
}

/** Writes entries with tar-stream (which writes names verbatim: absolute, `..`, duplicates), gzip-compressed when asked. */
export async function packTar(out: string, entries: Iterable<PackEntry>, gzip = false): Promise<void> {
  const pack = tarPack();
  const done = gzip ? pipeline(pack, createGzip(), createWriteStream(out)) : pipeline(pack, createWriteStream(out));
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(e.header as Header, e.body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
}
