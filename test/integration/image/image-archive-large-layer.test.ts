/**
 * A docker-archive layer of 8 GiB or more does not fit the tar header's 11 octal digits: its size is
 * written in GNU's base-256 form, which Go's archive/tar (docker load, podman load, skopeo) reads.
 * GNU tar and Python's tarfile read the header back here; the archive is sparse (no 9 GiB written).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileHeader } from '../../../electron/engine/export/image-archive';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-large-tar-'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A tar holding one member of `size` zero bytes, left as a hole in the file. */
async function sparseTar(file: string, name: string, size: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.write(fileHeader(name, size), 0, 512, 0);
    const end = 512 + Math.ceil(size / 512) * 512;
    await fh.write(Buffer.alloc(1024), 0, 1024, end);
  } finally {
    await fh.close();
  }
}

describe('docker-archive tar headers', () => {
  const name = `${'a'.repeat(64)}/layer.tar`;
  // 8 GiB - 1 is the largest octal size; beyond 64 GiB the octal digits would spill into the mtime field.
  for (const size of [0o77777777777, 9 * 1024 ** 3 + 7, 70 * 1024 ** 3 + 3]) {
    it(`a ${size}-byte layer reads back with its size (GNU tar, Python tarfile)`, async () => {
      const file = join(tmp, `${size}.tar`);
      await sparseTar(file, name, size);
      const listed = spawnSync('tar', ['-tvf', file], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(listed.status, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^-rw-r--r-- 0/0 +${size} 1970-01-01 00:00 ${name}\\n$`));
      const py = spawnSync('python3', ['-c', 'import sys,tarfile\nh=open(sys.argv[1],"rb").read(512)\nt=tarfile.TarInfo.frombuf(h,"utf-8","surrogateescape")\nprint(t.name, t.size, t.mtime, oct(t.mode))', file], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
      assert.equal(py.stdout.trim(), `${name} ${size} 0 0o644`);
    });
  }
});
