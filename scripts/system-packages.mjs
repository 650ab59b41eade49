#!/usr/bin/env node
// The Debian packages the test suites need, found by the command each provides. The one list: .ci/run
// installs from it (`node scripts/system-packages.mjs --missing`) and scripts/test.mjs checks it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SYSTEM_PACKAGES = [
  { pkg: 'chromium', command: 'chromium', suites: ['e2e'] },
  { pkg: 'skopeo', command: 'skopeo', suites: ['integration'] },
  { pkg: 'zstd', command: 'zstd', suites: ['integration'] },
  { pkg: 'oci-image-tool', command: 'oci-image-tool', suites: ['integration'] },
  // Image export (test/integration/image): a static busybox in the layers, unpacked by umoci and run by runc.
  { pkg: 'busybox-static', command: '/bin/busybox', suites: ['integration'] },
  { pkg: 'umoci', command: 'umoci', suites: ['integration'] },
  { pkg: 'runc', command: 'runc', suites: ['integration'] },
  // The docker-archive loaded and run by real engines: podman (test/integration/image/image-podman.test.ts)...
  { pkg: 'podman', command: 'podman', suites: ['integration'] },
  // ...and by docker itself: a dockerd the test starts on its own socket (image-docker-load.test.ts).
  { pkg: 'docker.io', command: '/usr/sbin/dockerd', suites: ['integration'] },
  // The real-registry harness (test/helpers/registry): distribution 2.8, a strict nginx front, certs, bcrypt.
  { pkg: 'docker-registry', command: 'docker-registry', suites: ['integration'] },
  { pkg: 'nginx', command: '/usr/sbin/nginx', suites: ['integration'] },
  { pkg: 'openssl', command: 'openssl', suites: ['integration'] },
  { pkg: 'python3', command: 'python3', suites: ['integration'] },
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

// Run directly: print package names, one a line. `--missing`: only those whose command is absent.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const list = process.argv.includes('--missing') ? missingPackages() : SYSTEM_PACKAGES;
  for (const p of list) console.log(p.pkg);
}
