#!/usr/bin/env node
// `npm test`: typecheck, lint, build, then the unit, integration and end-to-end suites (node:test),
// ending with one `N passed, N failed` line that sums every suite.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPackages, installPackages } from './system-packages.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ci = process.env.CI === 'true' || process.env.CI === '1';
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

function runSuite(name, dir, extraEnv = {}) {
  const files = findTests(join(root, dir));
  if (files.length === 0) {
    record(name, 0, 0, 0, 'no test files');
    return Promise.resolve();
  }
  console.log(`\n=== ${name}: ${files.length} files`);
  const tapFile = join(mkdtempSync(join(tmpdir(), 'cachescope-tap-')), 'out.tap');
  const child = spawn(
    process.execPath,
    [
      '--import', 'tsx',
      '--test',
      '--test-concurrency=2',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
      ...files.map((f) => relative(root, f)),
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, ...extraEnv } },
  );
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
      const count = (key) => Number((tap.match(new RegExp(`^# ${key} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
      let failed = count('fail') + count('cancelled');
      if (code !== 0 && failed === 0) failed = 1;
      record(name, count('pass'), failed, count('skipped') + count('todo'));
      resolve();
    });
  });
}

const wanted = (suite) => onlySuites.length === 0 || onlySuites.includes(suite);

// System packages: installed when we can (root on Debian), a failure under CI, otherwise a skip.
const missing = missingPackages();
if (missing.length > 0) {
  console.log(`missing system packages: ${missing.map((m) => m.pkg).join(' ')}`);
  installPackages(missing);
}
const stillMissing = missingPackages();
const missingFor = (suite) => stillMissing.filter((m) => m.suites.includes(suite));

if (wanted('typecheck')) runStep('typecheck', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', '--pretty']);
if (wanted('lint')) runStep('lint', process.execPath, [join(root, 'node_modules/eslint/bin/eslint.js'), '--max-warnings=0', '.']);
const needsBuild = wanted('e2e') || wanted('integration');
if (needsBuild) runStep('build', process.execPath, [join(root, 'scripts/build.mjs')]);

if (wanted('unit')) await runSuite('unit', 'test/unit');
for (const suite of ['integration', 'e2e']) {
  if (!wanted(suite)) continue;
  const lacking = missingFor(suite);
  if (lacking.length > 0) {
    const names = lacking.map((m) => m.pkg).join(' ');
    if (ci) record(suite, 0, 1, 0, `missing system packages under CI: ${names}`);
    else record(suite, 0, 0, 1, `skipped: missing system packages ${names} (apt-get install ${names})`);
    continue;
  }
  await runSuite(suite, `test/${suite}`);
}

console.log('\n=== summary');
for (const line of lines) console.log(line);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = totals.failed > 0 ? 1 : 0;
