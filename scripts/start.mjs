#!/usr/bin/env node
// `npm start`: build, then launch Electron where a binary and a display can be had; otherwise say why
// in one line and start browser mode, which prints its URL.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const require = createRequire(import.meta.url);

if (spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1);

/** The Electron binary's path, downloading it once (where that is possible) when npm skipped it. */
function electronBinary() {
  const probe = () => {
    try {
      const path = require('electron');
      return typeof path === 'string' && existsSync(path) ? path : null;
    } catch {
      return null;
    }
  };
  let path = probe();
  if (path) return { path };
  const install = join(root, 'node_modules/electron/install.js');
  if (!existsSync(install)) return { why: 'the electron package is not installed' };
  const env = { ...process.env };
  delete env.ELECTRON_SKIP_BINARY_DOWNLOAD;
  const r = spawnSync(process.execPath, [install], { cwd: dirname(install), env, stdio: 'ignore', timeout: 60_000 });
  path = probe();
  return path ? { path } : { why: `no Electron binary here and it could not be downloaded (exit ${r.status ?? 'timeout'})` };
}

function noDisplay() {
  return process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
}

const electron = noDisplay() ? { why: 'no display (DISPLAY/WAYLAND_DISPLAY unset)' } : electronBinary();
const child = electron.path
  ? spawn(electron.path, [join(root, 'dist/main/main.cjs'), ...args], { cwd: root, stdio: 'inherit' })
  : (console.log(`cachescope: ${electron.why}; starting browser mode instead.`),
    spawn(process.execPath, [join(root, 'bin/cachescope.mjs'), 'serve', ...args], { cwd: root, stdio: 'inherit' }));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
