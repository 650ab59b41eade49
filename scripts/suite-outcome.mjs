// How one test suite counts in `npm test`'s closing line. Under CI a suite that did not run is a
// failure, never a skip: a missing system package, a crashed runner or zero tests all mean "not tested".

/** The counts of node's TAP summary (`# tests 12` ...), or null when the runner never wrote one. */
export function parseTapCounts(tap) {
  const count = (key) => {
    const m = tap.match(new RegExp(`^# ${key} (\\d+)$`, 'm'));
    return m ? Number(m[1]) : null;
  };
  const tests = count('tests');
  if (tests === null) return null;
  return {
    tests,
    pass: count('pass') ?? 0,
    fail: count('fail') ?? 0,
    cancelled: count('cancelled') ?? 0,
    skipped: count('skipped') ?? 0,
    todo: count('todo') ?? 0,
  };
}

/**
 * Test files that ran no test. Node 20 reports such a file as one passing top-level test named by its
 * absolute path (`ok 3 - /repo/test/unit/x.test.ts`), which would hide a file whose tests were all lost.
 */
export function filesWithoutTests(tap, fileNames) {
  const names = new Set(fileNames);
  const out = [];
  for (const m of tap.matchAll(/^ok \d+ - (.+)$/gm)) {
    const name = m[1].replace(/ # .*$/, '');
    if (names.has(name)) out.push(name);
  }
  return out;
}

/**
 * The suite's line: { passed, failed, skipped, note }.
 * - ci: running under CI (CI=true or CI=1).
 * - files: how many test files the suite has.
 * - lacking: names of the system packages it needs that are missing (then it was not started).
 * - exitCode, signal, spawnError: how the runner ended (spawnError when it could not start at all).
 * - tap: the runner's TAP output ('' when it wrote none).
 * - fileNames: the absolute paths of the test files (to find files that ran no test).
 */
export function suiteOutcome({ ci, files, lacking = [], exitCode = 0, signal = null, spawnError = null, tap = '', fileNames = [] }) {
  const notRun = (note) => (ci ? { passed: 0, failed: 1, skipped: 0, note: `not run under CI: ${note}` } : { passed: 0, failed: 0, skipped: 1, note: `skipped: ${note}` });
  if (files === 0) return ci ? notRun('no test files') : { passed: 0, failed: 0, skipped: 0, note: 'no test files' };
  if (lacking.length > 0) {
    const names = lacking.join(' ');
    return notRun(`missing system packages ${names} (apt-get install ${names})`);
  }
  if (spawnError) return { passed: 0, failed: 1, skipped: 0, note: `the test runner did not start: ${spawnError}` };
  const counts = parseTapCounts(tap);
  const how = signal ? `killed by ${signal}` : `exit code ${exitCode}`;
  // No summary at all: the runner died before it could report, whatever its exit code says.
  if (counts === null) return { passed: 0, failed: 1, skipped: 0, note: `the test runner wrote no summary (${how})` };
  if (counts.tests === 0) {
    if (ci) return { passed: 0, failed: 1, skipped: 0, note: `not run under CI: ${files} test files but 0 tests ran (${how})` };
    return { passed: 0, failed: exitCode === 0 && !signal ? 0 : 1, skipped: 1, note: `${files} test files but 0 tests ran` };
  }
  let failed = counts.fail + counts.cancelled;
  let passed = counts.pass;
  let skipped = counts.skipped + counts.todo;
  let note = '';
  const empty = filesWithoutTests(tap, fileNames);
  if (empty.length > 0) {
    // Their "pass" is the file loading, not a test.
    passed -= empty.length;
    if (ci) failed += empty.length;
    else skipped += empty.length;
    note = `${ci ? 'not run under CI: ' : ''}no tests in ${empty.join(', ')}`;
  }
  if ((exitCode !== 0 || signal) && failed === 0) {
    failed = 1;
    note = `the test runner failed (${how}) with no failing test`;
  }
  return { passed, failed, skipped, note };
}

/** True when the environment says we run under CI. */
export function isCI(env) {
  return env.CI === 'true' || env.CI === '1';
}
