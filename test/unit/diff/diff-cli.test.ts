/**
 * `cachescope diff` through the CLI entry point (main), with a capturing io: diffoci's exit codes
 * (0 same, 1 different, 2 error), one JSON object with --json (the diff, or `{"error":{code,message}}`),
 * and a readable report without it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommandIo } from '../../../electron/cli/io';
import { main } from '../../../electron/cli/main';
import { listGenerations } from '../../../electron/engine/sources/generations';
import type { CacheDiff } from '../../../shared/diff/types';
import { diffBytes } from '../../../shared/diff/units';
import { fixture } from '../../helpers/fixtures';
import { oracleDiff, readRawGeneration } from './raw-oracle';

const DTO_OLDEST = 'sha256:6f73415abf94f92a7a305dc8b3be32fd81dbe9dd170359be1cc6bb26835be8a3';
const DTO_MIDDLE = 'sha256:780702ecaed709e1c053d44599f4f93fc0189a1b4ae6d1e89d648635f6d08ef5';
const DTO_LATEST = 'sha256:cca1d75310a0c5b0ce0394ef19d4eaaa0bbde0bef5c8fa8f6bb0e99acedbbf18';
const DTO_SAME = 'sha256:2fefebfcef3ec3b34bf787cf8a8c936d12f5448eca6ac14c7cb775ea035dbd04';
const MARGO_ORPHAN = 'sha256:3fee9c115eeee4f85d5f6ea28ffc47985bb201634e2651be96c7aab7d9a71286';

function capture(): CommandIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTty: false };
}

/** --json prints exactly one line holding one object. */
function onlyJson(io: { stdout: string[] }): Record<string, unknown> {
  assert.equal(io.stdout.length, 1, 'one write on stdout');
  return JSON.parse(io.stdout[0]) as Record<string, unknown>;
}

describe('cachescope diff', () => {
  it('exit 0 for the same source twice, with the diff as one JSON object', async () => {
    const io = capture();
    assert.equal(await main(['diff', fixture.margo, fixture.margo, '--json'], io), 0);
    const out = onlyJson(io) as unknown as CacheDiff & { a: string; b: string };
    assert.equal(out.identical, true);
    assert.equal(out.a, fixture.margo);
    assert.equal(out.summary.recordsMatched, 26);
    assert.deepEqual(out.divergences, []);
    assert.deepEqual(io.stderr, []);
  });

  it('exit 0 for an orphan that differs only in config bytes; the report says so', async () => {
    const io = capture();
    assert.equal(await main(['diff', `${fixture.dto}@${DTO_SAME}`, fixture.dto], io), 0);
    assert.match(io.stdout.join('\n'), /^identical: the same blobs, chains, records and results \(the config bytes differ/m);
  });

  it('exit 1 for an orphan vs current, in JSON and as a readable report', async () => {
    const json = capture();
    assert.equal(await main(['diff', `${fixture.margo}@${MARGO_ORPHAN}`, fixture.margo, '--json'], json), 1);
    const out = onlyJson(json) as unknown as CacheDiff;
    assert.equal(out.identical, false);
    const margoLatest = (await listGenerations(fixture.margo)).find((g) => !g.orphan)!.digest;
    const om = oracleDiff(await readRawGeneration(fixture.margo, MARGO_ORPHAN), await readRawGeneration(fixture.margo, margoLatest));
    assert.deepEqual([out.newRecords, out.goneRecords], [om.newRecords, om.goneRecords]);
    assert.ok(out.newRecords.length > 0);

    const text = capture();
    assert.equal(await main(['diff', `${fixture.dto}@${DTO_OLDEST}`, fixture.dto], text), 1);
    const report = text.stdout.join('\n');
    // The numbers come from the independent oracle on the raw JSON, not from a hand check.
    const o = oracleDiff(await readRawGeneration(fixture.dto, DTO_OLDEST), await readRawGeneration(fixture.dto, DTO_LATEST));
    assert.match(report, /^different$/m);
    assert.match(report, new RegExp(`^blobs only in B \\(new\\) +${o.blobsOnlyB} +${diffBytes(o.bytesOnlyB)} \\(${o.bytesOnlyB} bytes\\)$`, 'm'));
    assert.match(report, /^A could have served 72\.1% of B's result bytes/m);
    const [w] = o.divergences;
    assert.ok(report.includes(`why B missed the cache (first divergence per final result):\n  leaf #${w.leaf}: input ${w.slot} of record #${w.record} changed: `), report);
  });

  it('one unit system in the whole report: SI (kB, MB), as docker and BuildKit print sizes', async () => {
    const io = capture();
    assert.equal(await main(['diff', `${fixture.dto}@${DTO_MIDDLE}`, fixture.dto], io), 1);
    const report = io.stdout.join('\n');
    assert.doesNotMatch(report, /[KMGT]iB/, 'no IEC units');
    // Every size in the prose is SI: the table, the reuse share and the explanation's cost.
    const sizes = report.match(/\d+(?:\.\d+)? (?:kB|MB|GB|TB|B)\b/g) ?? [];
    assert.ok(sizes.length >= 6, `sizes found: ${sizes.join(', ')}`);
    assert.match(report, /; 3 layers, 97 MB rebuilt above it$/m);
    assert.match(report, /^blobs only in B \(new\) +3 +97 MB \(96761187 bytes\)$/m);
  });

  it('exit 2 for a missing path: the message on stderr, the error object on stdout with --json', async () => {
    const io = capture();
    assert.equal(await main(['diff', fixture.margo, '/no/such/cache', '--json'], io), 2);
    const out = onlyJson(io) as { error: { code: string; message: string } };
    assert.equal(out.error.code, 'not-found');
    assert.match(out.error.message, /\/no\/such\/cache: no such file or directory/);
    assert.match(io.stderr.join('\n'), /^cachescope diff: \/no\/such\/cache: no such file or directory/);

    const plain = capture();
    assert.equal(await main(['diff', '/no/such/cache', fixture.margo], plain), 2);
    assert.deepEqual(plain.stdout, [], 'nothing on stdout without --json');
  });

  it('exit 2 for a wrong command line, as an error object with --json', async () => {
    const one = capture();
    assert.equal(await main(['diff', fixture.margo, '--json'], one), 2);
    assert.equal((onlyJson(one) as { error: { code: string } }).error.code, 'bad-request');
    assert.match(one.stderr.join('\n'), /usage: cachescope diff <A> <B> \[--files \[--content\]\] \[--json\]/);
    const unknown = capture();
    assert.equal(await main(['diff', fixture.margo, fixture.margo, '--color'], unknown), 2);
    assert.match(unknown.stderr.join('\n'), /unknown option --color/);
  });
});
