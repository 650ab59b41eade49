// `npm run mutate`: StrykerJS mutation testing of shared/ and the engine's store and export code.
// Kept out of `npm test` (a full run takes long); narrow it with `npm run mutate -- --mutate shared/json/go-json.ts`.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
// Stryker runs the tests in a sandbox copy under .stryker-tmp/, where `../shared/fixtures` is not the real
// folder: point the fixture helper at a folder before the test processes (which inherit this env) start.
// Never the shared fixtures themselves: a mutant can turn a gc dry run into a real one, and as root
// read-only modes do not stop it (a run once deleted 8 fixture blobs). Each run gets its own copy.
if (!process.env.CACHESCOPE_FIXTURES) {
  const copy = join(mkdtempSync(join(tmpdir(), 'cachescope-mutate-fixtures-')), 'fixtures');
  cpSync(join(root, '..', 'shared', 'fixtures'), copy, { recursive: true });
  process.env.CACHESCOPE_FIXTURES = copy;
}

// MUTATE_TAG keeps a second, concurrent run's reports and incremental file apart (e.g. MUTATE_TAG=engine).
const tag = process.env.MUTATE_TAG ? `-${process.env.MUTATE_TAG}` : '';


/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    // Unit tests only: integration and e2e spawn processes and browsers, too slow to run per mutant.
    // MUTATE_TESTS narrows it further (a glob), e.g. for a quick run on one area.
    testFiles: [process.env.MUTATE_TESTS ?? 'test/unit/**/*.test.ts'],
    // One file per process, in that process (no --test, which would fork and hide coverage from Stryker).
    nodeArgs: ['--import', 'tsx', '--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  // The tap runner reports one "test" per file, so perTest means: run only the files that reach the mutant.
  coverageAnalysis: 'perTest',
  // shared/ and the engine's store (content store, index, locks, leases, gc, verify) and export rooms.
  mutate: ['shared/**/*.ts', 'electron/engine/store/**/*.ts', 'electron/engine/export/**/*.ts', '!**/*.d.ts'],
  ignorePatterns: ['dist', 'build', 'release', 'test-results', '.bench', 'reports', 'test/e2e', 'test/integration'],
  // The machine is shared: two test processes at a time.
  concurrency: 2,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 20,
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/mutation${tag}.html` },
  jsonReporter: { fileName: `reports/mutation/mutation${tag}.json` },
  incremental: true,
  incrementalFile: `reports/stryker-incremental${tag}.json`,
  thresholds: { high: 80, low: 60, break: null },
};
