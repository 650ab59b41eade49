/**
 * `cachescope verify` as a real process (bin/cachescope.mjs): it hashes every blob in the folder,
 * names orphans, exits 1 on corruption anywhere, and its help and the README say the same.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VERIFY_USAGE, verifyCommand } from '../../../electron/cli/verify-command';
import type { VerifyReport } from '../../../shared/contract/requests';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { putBlob, sha256Of, writableCopy } from '../../helpers/layout-copy';
import { runCli } from '../../helpers/run-cli';
import type { CliRun } from '../../helpers/run-cli';


function cli(...args: string[]): Promise<CliRun> {
  return runCli(args);
}

let tmp: string;
let layout: string;
let corruptOrphan: string;
let dirBlob: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-verify-cli-'));
  layout = await writableCopy(join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd'), join(tmp, 'cache'));
  await putBlob(layout, 'a clean orphan');
  corruptOrphan = await putBlob(layout, 'flipped bytes', sha256Of('the bytes it was written with'));
  // A directory where a blob should be: unreadable even as root, where permission bits do not stop reads.
  dirBlob = sha256Of('a directory, not a file');
  await mkdir(join(layout, 'blobs', 'sha256', dirBlob.slice(7)));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('cachescope verify (real process)', () => {
  it('hashes orphan blobs too: a corrupt orphan and a directory at a blob path make it exit 1, each named', async () => {
    const r = await cli('verify', layout);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /every blob in the folder, 3 not this cache's, 2 orphans among them/);
    assert.match(r.stdout, new RegExp(`digest-mismatch: ${corruptOrphan} \\(orphan: no index\\.json entry reaches it\\)`));
    assert.match(r.stdout, new RegExp(`unreadable: ${dirBlob}: .*is a directory, not a regular file`));
    assert.match(r.stdout, /2 corrupt blob\(s\)/);
  });

  it('--json prints the report with the orphans; --referenced-only checks only the cache and exits 0', async () => {
    const json = await cli('verify', layout, '--json');
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as VerifyReport;
    assert.equal(report.scope, 'folder');
    assert.ok(report.orphans?.includes(corruptOrphan));
    assert.deepEqual(report.problems.map((p) => [p.digest, p.owner ?? null]).sort(), [[corruptOrphan, 'orphan'], [dirBlob, null]].sort());
    const own = await cli('verify', layout, '--referenced-only');
    assert.equal(own.code, 0, own.stdout + own.stderr);
    assert.match(own.stdout, /checked 9 blobs \(\d+ bytes\): only those this cache references/);
    assert.match(own.stdout, /no corruption found/);
  });

  it('the help and the README describe the same behaviour', async () => {
    const help = await cli('--help');
    assert.equal(help.code, 0);
    const line = help.stdout.split('\n').find((l) => l.trim().startsWith('verify '))!;
    assert.match(line, /verify <source> \[--referenced-only\] \[--shallow\] \[--json\]/);
    assert.match(help.stdout, /hash every blob in the folder/);
    assert.match(help.stdout, /orphans too/);
    assert.match(help.stdout, /--shallow: existence only/);
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    assert.match(readme, /`verify` hashes every blob in the layout folder, orphans included/);
    assert.match(readme, /`--referenced-only`\s+hashes only the blobs the opened cache references/);
    assert.doesNotMatch(readme + help.stdout, /every present blob/);
  });

  it('in process: the same report through verifyCommand, and the usage line for a missing source', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), isTty: false };
    assert.equal(await verifyCommand([layout, '--json'], io), 1);
    const report = JSON.parse(out[0]) as VerifyReport;
    assert.equal(report.others, 3);
    assert.deepEqual(report.problems.map((p) => p.digest).sort(), [corruptOrphan, dirBlob].sort());
    assert.equal(await verifyCommand([], io), 2);
    assert.deepEqual(err, [VERIFY_USAGE]);
  });

  it('refuses an unknown option with the usage line', async () => {
    const r = await cli('verify', layout, '--fast');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown option --fast/);
  });
});
