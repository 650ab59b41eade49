/**
 * `cachescope gc`: its own module (gc-command.ts) and through main(), on writable copies of the
 * dto fixture: the JSON report, the readable lines, the flags, and one-line refusals.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GC_USAGE, gcCommand } from '../../../electron/cli/gc-command';
import { main } from '../../../electron/cli/main';
import type { CommandIo } from '../../../electron/cli/io';
import { fixture } from '../../helpers/fixtures';
import { blobFile, copyFixture, presentDigests, readIndexJson, referencedBy } from '../engine/gc-helpers';

const scratch = mkdtempSync(join(tmpdir(), 'cachescope-gc-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

interface Captured extends CommandIo {
  stdout: string[];
  stderr: string[];
}

function capture(): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTty: false };
}

/** dto's garbage from the raw JSON, independent of gc.ts. */
function garbage(dir: string): string[] {
  const live = referencedBy(dir, readIndexJson(dir).manifests[0].digest);
  return presentDigests(dir).filter((d) => !live.has(d));
}

describe('cachescope gc', () => {
  it('--dry-run --json prints one JSON report and deletes nothing', async () => {
    const dir = await copyFixture(fixture.dto, join(scratch, `c${n++}`));
    const before = presentDigests(dir);
    const io = capture();
    assert.equal(await gcCommand([dir, '--dry-run', '--json'], io), 0);
    assert.equal(io.stdout.length, 1);
    const report = JSON.parse(io.stdout[0]) as { dryRun: boolean; blobs: number; bytes: number; deleted: { digest: string; size: number }[]; leased: unknown[]; ingest: string[]; labels: number; noIndex: boolean };
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.deleted.map((d) => d.digest).sort(), garbage(dir));
    assert.equal(report.blobs, report.deleted.length);
    assert.equal(report.bytes, report.deleted.reduce((a, d) => a + readFileSync(blobFile(dir, d.digest)).length, 0));
    assert.deepEqual([report.leased, report.ingest, report.labels, report.noIndex], [[], [], 0, false]);
    assert.deepEqual(presentDigests(dir), before);
  });

  it('without --json: one line per deleted blob and a total, through main()', async () => {
    const dir = await copyFixture(fixture.dto, join(scratch, `c${n++}`));
    const expected = garbage(dir);
    const io = capture();
    assert.equal(await main(['gc', dir], io), 0);
    assert.deepEqual(io.stderr, []);
    const deletedLines = io.stdout.filter((l) => l.startsWith('deleted sha256:'));
    assert.deepEqual(deletedLines.map((l) => l.split(' ')[1]).sort(), expected);
    assert.match(io.stdout.at(-1)!, new RegExp(`^reclaimed ${expected.length} blobs, \\d+ bytes`));
    assert.deepEqual(presentDigests(dir).filter((d) => expected.includes(d)), []);
  });

  it('a folder without index.json: refused in one line naming --no-index; with --no-index, everything goes', async () => {
    const dir = await copyFixture(fixture.margo, join(scratch, `c${n++}`));
    await rm(join(dir, 'index.json'));
    const count = presentDigests(dir).length;
    const refused = capture();
    assert.equal(await main(['gc', dir, '--json'], refused), 1);
    assert.equal(refused.stderr.length, 1);
    assert.match(refused.stderr[0], /^cachescope gc: .*has no index\.json.*--no-index/);
    assert.equal((JSON.parse(refused.stdout[0]) as { error: { code: string } }).error.code, 'invalid-source');
    assert.equal(presentDigests(dir).length, count);
    const io = capture();
    assert.equal(await main(['gc', dir, '--no-index', '--json'], io), 0);
    const report = JSON.parse(io.stdout[0]) as { noIndex: boolean; blobs: number };
    assert.deepEqual([report.noIndex, report.blobs], [true, count]);
    assert.deepEqual(presentDigests(dir), []);
  });

  it('--help prints the usage with every flag; a wrong call gets the usage line and exit 2', async () => {
    const help = capture();
    assert.equal(await gcCommand(['--help'], help), 0);
    assert.equal(help.stdout[0], GC_USAGE);
    for (const flag of ['--dry-run', '--no-index', '--json']) assert.ok(GC_USAGE.includes(flag), flag);
    const bad = capture();
    assert.equal(await gcCommand(['a', '--bogus'], bad), 2);
    assert.equal(bad.stderr[0], 'usage: cachescope gc <dir> [--dry-run] [--no-index] [--json] (unknown option --bogus)');
    const none = capture();
    assert.equal(await gcCommand([], none), 2);
  });
});
