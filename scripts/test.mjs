#!/usr/bin/env node
// `npm test`: typecheck, lint, build, then the unit, integration and end-to-end suites (node:test),
// ending with one `N passed, N failed, N skipped` line that sums every suite. Under CI (CI=true) a
// suite that did not run (missing system package, crashed runner, no tests) is a failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPackages, installPackages } from './system-packages.mjs';
import { isCI, suiteOutcome } from './suite-outcome.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The suites never touch the user's own caches (remembered verifications, the registry blob cache,
// layer listings): every run gets a fresh XDG_CACHE_HOME, removed at the end.
const testCache = mkdtempSync(join(tmpdir(), 'cachescope-test-cache-'));
process.env.XDG_CACHE_HOME = testCache;
delete process.env.CACHESCOPE_CACHE_DIR;
const ci = isCI(process.env);
const args = process.argv.slice(2);
const onlySuites = args.filter((a) => !a.startsWith('-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];

function record(name, passed, failed, skipped, note = '') {
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  lines.push(`${name.padEnd(12)} ${passed} passed, ${failed} failed, ${skipped} skipped${note ? `  (${note})` : ''}`);
}

function runStep(name, cmd, cmdArgs) {
  console.log(`\n=== ${name}: ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env: process.env });
  const ok = r.status === 0;
  record(name, ok ? 1 : 0, ok ? 0 : 1, 0);
  return ok;
}

function findTests(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (/\.test\.tsx?$/.test(entry)) out.push(p);
  }
  return out.sort();
}

function recordOutcome(name, outcome) {
  record(name, outcome.passed, outcome.failed, outcome.skipped, outcome.note);
}

function runSuite(name, dir, lacking = []) {
  const files = findTests(join(root, dir));
  if (files.length === 0 || lacking.length > 0) {
    recordOutcome(name, suiteOutcome({ ci, files: files.length, lacking }));
    return Promise.resolve();
  }
  console.log(`\n=== ${name}: ${files.length} files`);
  const fileNames = files.map((f) => relative(root, f));
  const tapFile = join(mkdtempSync(join(tmpdir(), 'cachescope-tap-')), 'out.tap');
  const child = spawn(
    process.execPath,
    [
      '--import', 'tsx',
      '--test',
      '--test-concurrency=2',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
      ...fileNames,
    ],
    { cwd: root, stdio: 'inherit', env: process.env },
  );
  return new Promise((resolve) => {
    let done = false;
    const finish = (end) => {
      if (done) return;
      done = true;
      const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
      recordOutcome(name, suiteOutcome({ ci, files: files.length, fileNames: files, tap, ...end }));
      resolve();
    };
    child.on('error', (err) => finish({ spawnError: err.message }));
    child.on('close', (code, signal) => finish({ exitCode: code, signal }));
  });
}

const SUITES = ['typecheck', 'lint', 'build', 'unit', 'integration', 'e2e'];
const unknown = onlySuites.filter((s) => !SUITES.includes(s));
if (unknown.length > 0) {
  // A misspelt suite would otherwise run nothing and still end green.
  console.error(`unknown suite ${unknown.join(', ')}: choose from ${SUITES.join(', ')}`);
  console.log('0 passed, 1 failed, 0 skipped');
  process.exit(1);
}
const wanted = (suite) => onlySuites.length === 0 || onlySuites.includes(suite);

// System packages: installed when we can (root on Debian); a suite still lacking one fails under CI, else skips.
const missing = missingPackages();
if (missing.length > 0) {
  console.log(`missing system packages: ${missing.map((m) => m.pkg).join(' ')}`);
  installPackages(missing);
}
const stillMissing = missingPackages();
const missingFor = (suite) => stillMissing.filter((m) => m.suites.includes(suite));

if (wanted('typecheck')) runStep('typecheck', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', '--pretty']);
if (wanted('lint')) runStep('lint', process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '--max-warnings=0', '.']);
const needsBuild = wanted('build') || wanted('e2e') || wanted('integration');
if (needsBuild) runStep('build', process.execPath, [join(root, 'scripts/build.mjs')]);

for (const suite of ['unit', 'integration', 'e2e']) {
  if (wanted(suite)) await runSuite(suite, `test/${suite}`, missingFor(suite).map((m) => m.pkg));
}

rmSync(testCache, { recursive: true, force: true });

console.log('\n=== summary');
for (const line of lines) console.log(line);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = totals.failed > 0 ? 1 : 0;
