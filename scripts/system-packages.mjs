// The Debian packages the test suites need, found by the command each provides.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const SYSTEM_PACKAGES = [
  { pkg: 'chromium', command: 'chromium', suites: ['e2e'] },
  { pkg: 'skopeo', command: 'skopeo', suites: ['integration'] },
  { pkg: 'zstd', command: 'zstd', suites: ['integration'] },
  { pkg: 'oci-image-tool', command: 'oci-image-tool', suites: ['integration'] },
];

function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function missingPackages() {
  return SYSTEM_PACKAGES.filter((p) => !hasCommand(p.command));
}

/** Installs with apt-get when running as root on Debian; otherwise leaves it to the caller to name them. */
export function installPackages(missing) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) return false;
  const names = missing.map((m) => m.pkg);
  console.log(`installing with apt-get: ${names.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  return spawnSync('apt-get', ['install', '-y', '-qq', ...names], { stdio: 'inherit', env }).status === 0;
}
