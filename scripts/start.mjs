#!/usr/bin/env node
// `npm start [-- source]`: build, then launch Electron where a binary and a display can be had;
// otherwise say why in one line and start browser mode (`cachescope serve`), which prints its URL.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const require = createRequire(import.meta.url);
// npm runs scripts from the package root; INIT_CWD is where the user typed the command, so a
// relative source path (`npm start -- ./cache`) means what they meant.
const userCwd = process.env.INIT_CWD && existsSync(process.env.INIT_CWD) ? process.env.INIT_CWD : process.cwd();

if (spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1);

/** The path `require('electron')` reports, if that file exists (the package throws when its binary was never downloaded). */
function probeElectron() {
  try {
    const path = require('electron');
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

/** `{ path }` of a usable Electron binary, downloading it once (where that is possible), or `{ why }`. */
function electronBinary() {
  const found = probeElectron();
  if (found) return { path: found };
  const install = join(root, 'node_modules/electron/install.js');
  if (!existsSync(install)) return { why: 'no Electron binary here (the electron package is not installed)' };
  const env = { ...process.env };
  delete env.ELECTRON_SKIP_BINARY_DOWNLOAD;
  const r = spawnSync(process.execPath, [install], { cwd: dirname(install), env, stdio: 'ignore', timeout: 60_000 });
  const downloaded = probeElectron();
  if (downloaded) return { path: downloaded };
  const how = r.error?.code === 'ETIMEDOUT' ? 'timed out after 60 s' : `exit ${r.status ?? r.signal}`;
  return { why: `no Electron binary here (its download failed: ${how})` };
}

function missingDisplay() {
  return process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
}

// The display is checked first: without one, downloading Electron would be wasted time.
const electron = missingDisplay() ? { why: 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' } : electronBinary();

let child;
if (electron.path) {
  const env = { ...process.env };
  // Inherited from some terminals (VS Code's); it would make Electron run our main as plain Node.
  delete env.ELECTRON_RUN_AS_NODE;
  // The checkout is the app path (like `electron .`): package.json names dist/main/main.cjs as main
  // and gives the app its name and version; user arguments follow it.
  child = spawn(electron.path, [root, ...args], { cwd: userCwd, stdio: 'inherit', env });
} else {
  console.log(`cachescope: ${electron.why}; starting browser mode instead`);
  child = spawn(process.execPath, [join(root, 'bin/cachescope.mjs'), 'serve', ...args], { cwd: userCwd, stdio: 'inherit' });
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (err) => {
  console.error(`cachescope: could not start: ${err.message}`);
  process.exit(1);
});
// A child killed by a signal exits like a shell reports it (128 + signal number), not as success.
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
