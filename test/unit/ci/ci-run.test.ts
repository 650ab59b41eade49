/**
 * .ci/run must not go green with suites that never ran: a failed `apt-get install` is a failure (with
 * the closing `0 passed, 1 failed` line), CI=true reaches `npm test`, and the packages installed are
 * exactly scripts/system-packages.mjs's list. Run for real with bash, on a copy of the two scripts,
 * with a PATH that holds only the commands it needs, a fake apt-get and a fake npm (the real ones
 * would touch the machine and the network).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO } from '../../helpers/fixtures';

interface SystemPackage {
  pkg: string;
  command: string;
  suites: string[];
}

const { SYSTEM_PACKAGES } = (await import(pathToFileURL(join(REPO, 'scripts', 'system-packages.mjs')).href)) as { SYSTEM_PACKAGES: SystemPackage[] };
const isRoot = process.getuid?.() === 0;
const root = mkdtempSync(join(tmpdir(), 'cachescope-ci-run-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Where a command lives on this machine, for the symlinks of the restricted PATH. */
function which(cmd: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} is not installed`);
  return r.stdout.trim();
}

const BASICS = ['bash', 'sh', 'dirname', 'id', 'cat', 'env', 'chmod'];
let caseNo = 0;

interface FakeWorld {
  /** Exit status of `apt-get install`. */
  aptInstallExit: number;
  /** Whether a successful install makes the package commands appear. */
  installProvidesCommands?: boolean;
  /** Commands present before anything is installed. */
  present?: string[];
  npmCiExit?: number;
}

/** A checkout with .ci/run and scripts/system-packages.mjs, a bin dir for PATH, and logs of what apt-get and npm were asked. */
function world(w: FakeWorld) {
  const dir = join(root, `case-${++caseNo}`);
  const bin = join(dir, 'bin');
  mkdirSync(join(dir, 'repo', '.ci'), { recursive: true });
  mkdirSync(join(dir, 'repo', 'scripts'), { recursive: true });
  mkdirSync(bin);
  copyFileSync(join(REPO, '.ci', 'run'), join(dir, 'repo', '.ci', 'run'));
  copyFileSync(join(REPO, 'scripts', 'system-packages.mjs'), join(dir, 'repo', 'scripts', 'system-packages.mjs'));
  for (const cmd of BASICS) symlinkSync(which(cmd), join(bin, cmd));
  symlinkSync(process.execPath, join(bin, 'node'));
  const log = join(dir, 'log');
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  for (const cmd of w.present ?? []) script(cmd, 'exit 0');
  // A successful install makes each package's command appear (its name from the shared list).
  const cases = SYSTEM_PACKAGES.filter((p) => !p.command.includes('/')).map((p) => `${p.pkg}) printf '#!/bin/sh\\nexit 0\\n' > "${bin}/${p.command}"; chmod +x "${bin}/${p.command}";;`).join(' ');
  const provide = w.installProvidesCommands ? `for p in "$@"; do case "$p" in ${cases} *) ;; esac; done` : '';
  script('apt-get', `echo "apt-get $*" >> "${log}"\nif [ "$1" = install ]; then\n${provide}\nexit ${w.aptInstallExit}\nfi\nexit 0`);
  script('npm', `echo "npm $1 CI=$CI" >> "${log}"\nif [ "$1" = ci ]; then exit ${w.npmCiExit ?? 0}; fi\necho "7 passed, 0 failed, 0 skipped"\nexit 0`);
  const run = () => {
    const r = spawnSync(join(bin, 'bash'), [join(dir, 'repo', '.ci', 'run')], { encoding: 'utf8', env: { PATH: bin, HOME: dir } });
    const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    const lines = r.stdout.trim().split('\n');
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, last: lines.at(-1), calls };
  };
  return { run };
}

const ALL = SYSTEM_PACKAGES.map((p) => p.pkg);
/** A command named by absolute path is found (or not) outside the test's PATH: it is missing only if absent here. */
const missingHere = (p: SystemPackage) => !(p.command.includes('/') && existsSync(p.command));
/** Every package the fake world lacks when only `present` commands are on PATH. */
const expectedMissing = (present: string[]) => SYSTEM_PACKAGES.filter((p) => missingHere(p) && !present.includes(p.command)).map((p) => p.pkg);
/** The commands found through PATH (not absolute paths). */
const PATH_COMMANDS = SYSTEM_PACKAGES.filter((p) => !p.command.includes('/')).map((p) => p.command);
/** Commands by absolute path cannot be faked: the "all present" cases need them installed here (CI installs them first). */
const absentAbsolute = SYSTEM_PACKAGES.filter((p) => p.command.includes('/') && !existsSync(p.command)).map((p) => p.command);
const needsAbsolute = absentAbsolute.length > 0 && `needs ${absentAbsolute.join(' ')} on this machine`;

describe('.ci/run', () => {
  it('reads its package list from scripts/system-packages.mjs, which names every command the suites use', () => {
    const text = readFileSync(join(REPO, '.ci', 'run'), 'utf8');
    assert.match(text, /node scripts\/system-packages\.mjs --missing/);
    for (const pkg of ['chromium', 'oci-image-tool', 'skopeo', 'zstd']) assert.ok(ALL.includes(pkg), `${pkg} is not in the list`);
    for (const p of SYSTEM_PACKAGES) {
      assert.ok(p.pkg && p.command, JSON.stringify(p));
      assert.ok(p.suites.length > 0 && p.suites.every((s) => ['unit', 'integration', 'e2e'].includes(s)), JSON.stringify(p));
    }
  });

  it('a failed apt-get install fails the run with `0 passed, 1 failed`, and no test runs', () => {
    const r = world({ aptInstallExit: 100 }).run();
    assert.notEqual(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.last, '0 passed, 1 failed');
    assert.ok(!r.calls.some((c) => c.startsWith('npm')), `npm ran: ${r.calls.join('; ')}`);
    if (isRoot) {
      // Every missing package in one install, straight from the shared list.
      const install = r.calls.find((c) => c.startsWith('apt-get install'));
      assert.ok(install, r.calls.join('; '));
      assert.deepEqual(install.split(' ').filter((w) => !w.startsWith('-')).slice(2).sort(), expectedMissing([]).sort());
      assert.match(r.stderr, /apt-get install .* failed/);
    } else {
      assert.match(r.stderr, /cannot install them \(needs root and apt-get\)/);
    }
  });

  it('an install that "succeeds" but leaves a command missing is a failure too', { skip: !isRoot && 'installs only as root' }, () => {
    const r = world({ aptInstallExit: 0, installProvidesCommands: false }).run();
    assert.notEqual(r.status, 0);
    assert.equal(r.last, '0 passed, 1 failed');
    assert.match(r.stderr, /still missing after apt-get install/);
  });

  it('installs only what is missing, then runs npm ci and npm test with CI=true', { skip: (!isRoot && 'installs only as root') || needsAbsolute }, () => {
    const r = world({ aptInstallExit: 0, installProvidesCommands: true, present: ['chromium', 'zstd'] }).run();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.last, '7 passed, 0 failed, 0 skipped');
    const install = r.calls.find((c) => c.startsWith('apt-get install'))!;
    assert.deepEqual(install.split(' ').filter((w) => !w.startsWith('-')).slice(2).sort(), expectedMissing(['chromium', 'zstd']).sort());
    assert.deepEqual(r.calls.filter((c) => c.startsWith('npm')), ['npm ci CI=true', 'npm test CI=true']);
  });

  it('with every package present: no apt-get at all, and CI=true reaches npm test', { skip: needsAbsolute }, () => {
    const r = world({ aptInstallExit: 100, present: PATH_COMMANDS }).run();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(!r.calls.some((c) => c.startsWith('apt-get')));
    assert.deepEqual(r.calls, ['npm ci CI=true', 'npm test CI=true']);
  });

  it('a failed npm ci ends with `0 passed, 1 failed`', { skip: needsAbsolute }, () => {
    const r = world({ aptInstallExit: 0, present: PATH_COMMANDS, npmCiExit: 1 }).run();
    assert.notEqual(r.status, 0);
    assert.equal(r.last, '0 passed, 1 failed');
    assert.deepEqual(r.calls, ['npm ci CI=true']);
  });
});
