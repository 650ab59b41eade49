/**
 * How `npm test` (scripts/test.mjs) counts a suite: under CI, a suite that did not run is a failure,
 * never a skip or a silent zero. Checked on the decision itself (scripts/suite-outcome.mjs, which
 * test.mjs uses), on real TAP from a real `node --test` run, and on test.mjs run for real.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO } from '../../helpers/fixtures';

interface Outcome {
  passed: number;
  failed: number;
  skipped: number;
  note: string;
}
interface OutcomeInput {
  ci: boolean;
  files: number;
  lacking?: string[];
  exitCode?: number | null;
  signal?: string | null;
  spawnError?: string | null;
  tap?: string;
  fileNames?: string[];
}

const mod = (await import(pathToFileURL(join(REPO, 'scripts', 'suite-outcome.mjs')).href)) as {
  suiteOutcome: (input: OutcomeInput) => Outcome;
  isCI: (env: Record<string, string | undefined>) => boolean;
};
const { suiteOutcome, isCI } = mod;

const tmp = mkdtempSync(join(tmpdir(), 'cachescope-suite-outcome-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `node --test` on one file written from `source`, with TAP to a file, as test.mjs does. */
function realRun(source: string): { exitCode: number | null; signal: string | null; tap: string } {
  const file = join(tmp, `t${Math.random().toString(36).slice(2)}.test.mjs`);
  writeFileSync(file, source);
  // Without NODE_TEST_CONTEXT: inherited from this runner, it would switch the child to the parent's protocol.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env });
  return { exitCode: r.status, signal: r.signal, tap: r.stdout };
}

/** Several files in one `node --test` run; returns their absolute paths, which test.mjs passes on. */
function realRunFiles(sources: string[]): { run: { exitCode: number | null; signal: string | null; tap: string }; file: string[] } {
  const dir = mkdtempSync(join(tmp, 'run-'));
  const file = sources.map((source, i) => {
    writeFileSync(join(dir, `t${i}.test.mjs`), source);
    return `t${i}.test.mjs`;
  });
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...file], { encoding: 'utf8', env, cwd: dir });
  return { run: { exitCode: r.status, signal: r.signal, tap: r.stdout }, file: file.map((f) => join(dir, f)) };
}

const counts = (o: Outcome) => [o.passed, o.failed, o.skipped];

describe('a suite that did not run', () => {
  it('missing system package: a failure under CI, a skip (with the apt-get line) otherwise', () => {
    const ci = suiteOutcome({ ci: true, files: 3, lacking: ['skopeo', 'zstd'] });
    assert.deepEqual(counts(ci), [0, 1, 0]);
    assert.match(ci.note, /missing system packages skopeo zstd/);
    const dev = suiteOutcome({ ci: false, files: 3, lacking: ['skopeo'] });
    assert.deepEqual(counts(dev), [0, 0, 1]);
    assert.match(dev.note, /apt-get install skopeo/);
  });

  it('a runner that crashed before its summary is a failure, even with exit code 0', () => {
    assert.deepEqual(counts(suiteOutcome({ ci: true, files: 2, exitCode: 0, tap: '' })), [0, 1, 0]);
    assert.deepEqual(counts(suiteOutcome({ ci: false, files: 2, exitCode: 0, tap: 'TAP version 13\nok 1 - a\n' })), [0, 1, 0]);
    const killed = suiteOutcome({ ci: true, files: 2, exitCode: null, signal: 'SIGKILL', tap: 'TAP version 13\n' });
    assert.deepEqual(counts(killed), [0, 1, 0]);
    assert.match(killed.note, /SIGKILL/);
  });

  it('a runner that could not start is a failure', () => {
    assert.deepEqual(counts(suiteOutcome({ ci: false, files: 2, spawnError: 'spawn ENOENT' })), [0, 1, 0]);
  });

  it('a test file that ran no test: a failure under CI (real node --test output, which calls it a pass)', () => {
    const { run, file } = realRunFiles(['// a test file whose tests were all deleted\n', "import { it } from 'node:test';\nit('a', () => {});\n"]);
    const ci = suiteOutcome({ ci: true, files: 2, fileNames: file, ...run });
    assert.deepEqual(counts(ci), [1, 1, 0]);
    assert.match(ci.note, /no tests in .*t0\.test\.mjs/);
    assert.deepEqual(counts(suiteOutcome({ ci: false, files: 2, fileNames: file, ...run })), [1, 0, 1]);
  });

  it('zero tests in the summary (node 22 and later): a failure under CI', () => {
    const tap = '# tests 0\n# suites 0\n# pass 0\n# fail 0\n# cancelled 0\n# skipped 0\n# todo 0\n';
    assert.deepEqual(counts(suiteOutcome({ ci: true, files: 1, tap })), [0, 1, 0]);
    assert.equal(suiteOutcome({ ci: false, files: 1, tap }).failed, 0);
  });

  it('no test files at all: a failure under CI', () => {
    assert.deepEqual(counts(suiteOutcome({ ci: true, files: 0 })), [0, 1, 0]);
    assert.deepEqual(counts(suiteOutcome({ ci: false, files: 0 })), [0, 0, 0]);
  });
});

describe('a suite that ran', () => {
  it('counts pass, fail, cancelled, skip and todo from real node --test output', () => {
    const run = realRun(
      "import { it } from 'node:test';\n" +
        "it('a', () => {});\nit('b', () => {});\nit('c', () => { throw new Error('no'); });\n" +
        "it('d', { skip: 'why' }, () => {});\nit('e', { todo: true }, () => {});\n",
    );
    assert.equal(run.exitCode, 1);
    assert.deepEqual(counts(suiteOutcome({ ci: true, files: 1, ...run })), [2, 1, 2]);
  });

  it('a runner that fails with no failing test still counts one failure', () => {
    const tap = '# tests 1\n# pass 1\n# fail 0\n# cancelled 0\n# skipped 0\n# todo 0\n';
    const o = suiteOutcome({ ci: true, files: 1, exitCode: 7, tap });
    assert.deepEqual(counts(o), [1, 1, 0]);
    assert.match(o.note, /exit code 7/);
  });

  it('all green stays green', () => {
    const run = realRun("import { it } from 'node:test';\nit('a', () => {});\n");
    assert.deepEqual(counts(suiteOutcome({ ci: true, files: 1, ...run })), [1, 0, 0]);
  });

  it('CI is read from CI=true or CI=1', () => {
    assert.equal(isCI({ CI: 'true' }), true);
    assert.equal(isCI({ CI: '1' }), true);
    assert.equal(isCI({}), false);
    assert.equal(isCI({ CI: 'false' }), false);
  });
});

describe('scripts/test.mjs', () => {
  it('a misspelt suite name fails with the closing line instead of running nothing', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'test.mjs'), 'integartion'], { encoding: 'utf8', cwd: REPO });
    assert.equal(r.status, 1);
    assert.equal(r.stdout.trim().split('\n').at(-1), '0 passed, 1 failed, 0 skipped');
    assert.match(r.stderr, /unknown suite integartion/);
  });

  it('uses suite-outcome for every suite (no second copy of the rules)', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(join(REPO, 'scripts', 'test.mjs'), 'utf8');
    assert.match(text, /import \{ isCI, suiteOutcome \} from '\.\/suite-outcome\.mjs'/);
    assert.doesNotMatch(text, /record\(suite, 0, 0, 1/);
  });
});
