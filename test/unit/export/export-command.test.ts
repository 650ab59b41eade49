import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseExportArgs, splitDest } from '../../../electron/cli/export-command';
import { main } from '../../../electron/cli/main';
import type { CommandIo } from '../../../electron/cli/io';
import { fixture } from '../../helpers/fixtures';
import { exists, generate } from './export-helpers';

let tmp: string;
let src: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-cli-export-'));
  // Remembered verifications go to a folder of this test, not to the user's cache.
  process.env.XDG_CACHE_HOME = join(tmp, 'xdg-cache');
  src = join(tmp, 'src');
  await generate(src);
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function capture(isTty = false): CommandIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, isTty, out: (t) => outLines.push(t), err: (t) => errLines.push(t) };
}

describe('cachescope export', () => {
  it('--json prints one event per line and ends with the cache.manifest descriptor', async () => {
    const io = capture();
    const dest = join(tmp, 'a');
    const code = await main(['export', src, `${dest}:v1`, '--opt', 'compression=zstd', '--opt', 'force-compression', '--json'], io);
    assert.equal(code, 0, io.errLines.join('\n'));
    const events = io.outLines.map((l) => JSON.parse(l));
    assert.ok(events.slice(0, -1).every((e) => e.event === 'exportProgress'));
    const last = events.at(-1);
    assert.equal(last.event, 'exportFinished');
    assert.match(last['cache.manifest'].digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(last['cache.manifest'].mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.deepEqual(index.manifests[0], { ...last['cache.manifest'], annotations: { 'org.opencontainers.image.ref.name': 'v1' } });
  });

  it('prints BuildKit progress lines and a summary without a terminal; draws bars on one', async () => {
    const plain = capture(false);
    assert.equal(await main(['export', src, join(tmp, 'b')], plain), 0);
    assert.equal(plain.outLines[0], 'preparing build cache for export');
    assert.ok(plain.outLines.some((l) => /^writing layer sha256:/.test(l)));
    assert.ok(plain.outLines.some((l) => /^writing cache image manifest sha256:/.test(l)));
    assert.match(plain.outLines.at(-1)!, /^exported sha256:[0-9a-f]{64} .*\nlayers: \d+ hard-linked/);
    const tty = capture(true);
    assert.equal(await main(['export', src, join(tmp, 'c'), '--opt', 'image-manifest=false'], tty), 0);
    assert.ok(tty.outLines.some((l) => l.includes('\x1b[2K') && /\[#+ *\] +\d+%/.test(l)), 'progress bars');
  });

  it('says which zstd level runs when BuildKit maps the one asked for (22 runs as 11), once, before any layer', async () => {
    const io = capture(false);
    assert.equal(await main(['export', src, join(tmp, 'lv'), '--opt', 'compression=zstd', '--opt', 'force-compression=true', '--opt', 'compression-level=22'], io), 0, io.errLines.join('\n'));
    const notes = io.outLines.filter((l) => l.includes('runs as level 11'));
    assert.equal(notes.length, 1, io.outLines.join('\n'));
    assert.ok(io.outLines.indexOf(notes[0]) < io.outLines.findIndex((l) => l.startsWith('writing layer')));
    const quiet = capture(false);
    assert.equal(await main(['export', src, join(tmp, 'lv3'), '--opt', 'compression=zstd', '--opt', 'force-compression=true', '--opt', 'compression-level=3'], quiet), 0);
    assert.equal(quiet.outLines.some((l) => l.includes('runs as')), false, 'a level that runs as asked needs no note');
  });

  it('fails with a non-zero exit and BuildKit text on bad options, and 2 on bad usage', async () => {
    const io = capture();
    assert.equal(await main(['export', src, join(tmp, 'd'), '--opt', 'oci-mediatypes=false', '--opt', 'image-manifest=true', '--json'], io), 1);
    assert.match(io.outLines.at(-1)!, /"code":"invalid-options".*OCI mediatypes are required/);
    const io2 = capture();
    assert.equal(await main(['export', src, join(tmp, 'e'), '--opt', 'force-compression=maybe'], io2), 1);
    assert.match(io2.errLines.join('\n'), /non-bool value maybe specified for force-compression/);
    const io3 = capture();
    assert.equal(await main(['export', src, join(tmp, 'f'), '--opt', 'tag=a/b'], io3), 1);
    assert.match(io3.errLines.join('\n'), /invalid tag "a\/b"/);
    assert.equal(await main(['export', src], capture()), 2);
    assert.equal(await main(['export', src, join(tmp, 'g'), '--bogus'], capture()), 2);
  });

  it('splits DIR:tag, but not an existing path with a colon, and refuses two different tags', async () => {
    assert.deepEqual(splitDest('/x/out:v2'), { dest: '/x/out', tag: 'v2' });
    assert.deepEqual(splitDest('/x/out'), { dest: '/x/out', tag: null });
    const colon = join(tmp, 'has:colon');
    await writeFile(colon, '');
    assert.deepEqual(splitDest(colon), { dest: colon, tag: null });
    assert.match(String(parseExportArgs([src, '/x/out:a', '--opt', 'tag=b'])), /two tags/);
    const ok = parseExportArgs([src, '/x/out:a', '--opt=compression=zstd', '--opt', 'force-compression']);
    assert.deepEqual(typeof ok === 'string' ? ok : ok.attrs, [['compression', 'zstd'], ['force-compression', ''], ['tag', 'a']]);
  });

  it('an empty result prints BuildKit\'s line once, says why nothing was written, and exits 1', async () => {
    const dest = join(tmp, 'empty');
    const plain = capture();
    assert.equal(await main(['export', fixture.margo, dest, '--opt', 'drop-missing=true'], plain), 1);
    assert.equal(plain.outLines.filter((l) => l.includes('skipping cache export for empty result')).length, 1, plain.outLines.join('\n'));
    assert.match(plain.errLines.join('\n'), /^cachescope export: nothing exported: drop-missing dropped all \d+ layer entries, because \d+ blob\(s\) they need are absent from the source; .* was not created or changed$/);
    assert.equal(await exists(dest), false);
    const json = capture();
    assert.equal(await main(['export', fixture.margo, dest, '--opt', 'drop-missing=true', '--json'], json), 1);
    const last = JSON.parse(json.outLines.at(-1)!);
    assert.equal(last.event, 'exportFinished');
    assert.equal(last.ok, false);
    assert.equal(last.skipped, true);
    assert.equal(last.error.code, 'missing-blob');
    assert.equal(await exists(dest), false);
  });

  it('a corrupt target index.json is refused before any blob is written, naming the file', async () => {
    const dest = join(tmp, 'garbage-index');
    await mkdir(dest);
    await writeFile(join(dest, 'index.json'), '{"schemaVersion":2,"manifests":[garbage');
    const io = capture();
    assert.equal(await main(['export', src, dest], io), 1);
    assert.match(io.errLines.join('\n'), new RegExp(`${join(dest, 'index.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*nothing was exported`));
    assert.deepEqual((await readdir(dest)).sort(), ['index.json'], 'no blobs/, ingest/ or oci-layout');
    assert.equal(await readFile(join(dest, 'index.json'), 'utf8'), '{"schemaVersion":2,"manifests":[garbage');
    // A wrongly typed field is caught the same way, and existing blobs stay as they were.
    const typed = join(tmp, 'typed-index');
    assert.equal(await main(['export', src, typed, '--opt', 'tag=first'], capture()), 0);
    const blobsBefore = (await readdir(join(typed, 'blobs', 'sha256'))).sort();
    await writeFile(join(typed, 'index.json'), '{"schemaVersion":2,"manifests":{"not":"an array"}}');
    const io2 = capture();
    assert.equal(await main(['export', src, typed, '--opt', 'tag=second', '--opt', 'compression=zstd', '--opt', 'force-compression=true'], io2), 1);
    assert.match(io2.errLines.join('\n'), /index\.json: manifests: .*nothing was exported/);
    assert.deepEqual((await readdir(join(typed, 'blobs', 'sha256'))).sort(), blobsBefore, 'no blob was written');
  });
});
