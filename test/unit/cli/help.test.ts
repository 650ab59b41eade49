/**
 * `--help` and `-h` on every command, through the real CLI process: the command's own usage on
 * stdout, nothing on stderr, exit 0, whatever else is on the line (nothing is opened or checked).
 * The table is checked against the commands the top-level usage lists, so a new command needs a row,
 * and the README's list of commands and its registry settings against the CLI.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../../helpers/fixtures';
import { runCli } from '../../helpers/run-cli';
import type { CliRun } from '../../helpers/run-cli';


function cli(...args: string[]): Promise<CliRun> {
  return runCli(args, { timeout: 60_000 });
}

/** Each command, what its usage must show, and arguments that would fail without --help. */
const TABLE: { command: string; usage: RegExp; flags: string[]; noise: string[] }[] = [
  { command: 'inspect', usage: /^usage: cachescope inspect <source>/, flags: ['--image REF', '--json'], noise: ['/no/such/cache', '--bogus'] },
  { command: 'verify', usage: /^usage: cachescope verify <source>/, flags: ['--referenced-only', '--shallow', '--registry-concurrency N', '--json'], noise: ['/no/such/cache', '--bogus'] },
  { command: 'export', usage: /^usage: cachescope export <source>/, flags: ['--opt', '--registry-concurrency N', '--json'], noise: ['/no/such/cache', '--bogus'] },
  { command: 'diff', usage: /^usage: cachescope diff <A> <B>/, flags: ['--files', '--content', '--image REF', '--json'], noise: ['/no/a', '--bogus'] },
  { command: 'files', usage: /^usage: cachescope files <source>/, flags: ['--layer N', '--record N', '--squash', '--changes', '--json'], noise: ['/no/such/cache', '--bogus'] },
  { command: 'image', usage: /^usage: cachescope image <source>/, flags: ['--dest', '--config', '--registry-concurrency N', '--json'], noise: ['/no/such/cache', '--bogus'] },
  { command: 'gc', usage: /^usage: cachescope gc <dir>/, flags: ['--dry-run', '--no-index', '--json'], noise: ['/no/such/dir', '--bogus'] },
  { command: 'serve', usage: /^usage: cachescope serve \[source\]/, flags: ['--port N'], noise: ['/no/such/cache', '--bogus'] },
  { command: 'tags', usage: /^usage: cachescope tags <registry\/repo>/, flags: ['--concurrency N', '--registry-concurrency N', '--delete TAG', '--json'], noise: ['--bogus'] },
  { command: 'login', usage: /^usage: cachescope login <registry>/, flags: ['-u USER', '--password-stdin'], noise: ['--bogus'] },
  { command: 'logout', usage: /^\s+cachescope logout <registry>/m, flags: ['--json'], noise: ['--bogus'] },
];

describe('--help on every command (real CLI process)', () => {
  it('the table has a row for every command the top-level usage lists', async () => {
    const top = await cli('--help');
    assert.equal(top.code, 0, top.stderr);
    const listed = new Set([...top.stdout.split(/\n\n/)[1].matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]));
    assert.deepEqual([...listed].sort(), TABLE.map((r) => r.command).sort());
  });

  it('the README names every command and documents tags --concurrency and the per-host registry limit', async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    const intro = readme.slice(readme.indexOf('the **CLI** `cachescope`'), readme.indexOf('**browser mode**'));
    for (const row of TABLE) assert.ok(intro.includes(`\`${row.command}\``), `the README's CLI line lists ${row.command}`);
    assert.match(readme, /tags .*--concurrency 8/);
    assert.match(readme, /`--concurrency N` \(1 to 64\)/);
    assert.match(readme, /`CACHESCOPE_REGISTRY_CONCURRENCY=N`/);
    assert.match(readme, /`--registry-concurrency N` on `export`, `verify`, `tags` and `image`/);
    const top = await cli('--help');
    assert.match(top.stdout, /verify <source> \[--referenced-only\] \[--shallow\]/);
    assert.match(top.stdout, /--registry-concurrency N/);
  });

  for (const row of TABLE) {
    for (const flag of ['--help', '-h']) {
      it(`${row.command} ${flag}: its usage on stdout, exit 0, even after arguments that are wrong`, async () => {
        const r = await cli(row.command, ...row.noise, flag);
        assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
        assert.equal(r.stderr, '');
        assert.match(r.stdout, row.usage);
        for (const f of row.flags) assert.ok(r.stdout.includes(f), `${row.command} ${flag} mentions ${f}:\n${r.stdout}`);
      });
    }
  }
});
