/**
 * `cachescope image --help` and the README's `image` paragraph against the code: every flag the
 * command's parser takes is documented in both, and both name the exporter's response keys and
 * progress lines as the engine says them.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IMAGE_HELP } from '../../../electron/cli/image-command';
import { REPO } from '../../helpers/fixtures';

/** The flags image-command.ts compares arguments with (`a === '--flag'`), plus the shared --registry-concurrency. */
async function parsedFlags(): Promise<string[]> {
  const src = await readFile(join(REPO, 'electron', 'cli', 'image-command.ts'), 'utf8');
  const flags = new Set([...src.matchAll(/a === '(--[a-z-]+)'/g)].map((m) => m[1]));
  assert.ok(src.includes('takeRegistryConcurrency(argv)'));
  flags.add('--registry-concurrency');
  return [...flags].sort();
}

async function readmeImageParagraph(): Promise<string> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('- `image <source>');
  assert.ok(start >= 0, 'the README has an `image <source>` item');
  return readme.slice(start, readme.indexOf('\n\n', start));
}

describe('cachescope image: --help and the README match the code', () => {
  it('the parser takes exactly the flags we expect (a new one must be documented below)', async () => {
    assert.deepEqual(await parsedFlags(), ['--chain', '--config', '--dest', '--docker-mediatypes', '--inline-cache', '--json', '--layer', '--name', '--opt', '--platform', '--record', '--registry-concurrency', '--trust-diffids']);
  });

  it('--help documents every flag, the response keys and the progress lines', async () => {
    for (const flag of await parsedFlags()) assert.ok(IMAGE_HELP.includes(flag), `--help mentions ${flag}`);
    for (const text of ['containerimage.config.digest', 'containerimage.digest', 'image.name', 'exporting layers', 'writing image sha256:', 'naming to', 'pushing layers', 'pushing manifest for', 'platform given twice']) {
      assert.ok(IMAGE_HELP.includes(text), `--help mentions ${text}`);
    }
  });

  it('the README\'s image paragraph documents every flag, the response keys and the progress lines', async () => {
    const para = await readmeImageParagraph();
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    for (const flag of await parsedFlags()) {
      // --registry-concurrency is documented once for every registry command.
      const ok = flag === '--registry-concurrency' ? /`--registry-concurrency N` on [^.]*`image`/.test(readme) : para.includes(flag);
      assert.ok(ok, `the README documents image ${flag}`);
    }
    for (const text of ['containerimage.config.digest', 'containerimage.digest', 'image.name', 'exporting layers', 'writing image sha256:', 'naming to', 'pushing layers', 'pushing manifest for', 'platform given twice', 'docker-archive:FILE', 'moby.buildkit.cache.v0']) {
      assert.ok(para.includes(text), `the README's image paragraph mentions ${text}`);
    }
  });
});
