/**
 * Packaging: runs electron-builder for real (`--linux dir`) against a stand-in Electron, so it needs
 * no Electron download and takes seconds, then checks what the packaged app holds and which fuses
 * its binary carries. The installer targets themselves are built where a real Electron can be had.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { extractFile, listPackage } from '@electron/asar';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

/** @electron/fuses' marker: the fuse wire follows it as [version, length, ...one byte per fuse]. */
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const FUSES = ['runAsNode', 'enableCookieEncryption', 'enableNodeOptionsEnvironmentVariable', 'enableNodeCliInspectArguments', 'enableEmbeddedAsarIntegrityValidation', 'onlyLoadAppFromAsar', 'loadBrowserProcessSpecificV8Snapshot', 'grantFileProtocolExtraPrivileges'] as const;
// Electron's own defaults ('1' on, '0' off), so a fuse the config forgets to flip is caught.
const ELECTRON_DEFAULT_WIRE = '10110001';

function readFuses(binary: string): Record<(typeof FUSES)[number], boolean> {
  const bytes = readFileSync(binary);
  const at = bytes.indexOf(FUSE_SENTINEL) + FUSE_SENTINEL.length;
  assert.ok(at >= FUSE_SENTINEL.length, `no fuse wire in ${binary}`);
  const length = bytes[at + 1];
  return Object.fromEntries(FUSES.slice(0, length).map((name, i) => [name, bytes[at + 2 + i] === 0x31])) as Record<(typeof FUSES)[number], boolean>;
}

const BUILT = ['dist/main/main.cjs', 'dist/preload/preload.cjs', 'dist/renderer/index.html', 'dist/renderer/app.js'];

describe('packaging (electron-builder --dir with a stand-in Electron)', () => {
  let work: string;
  let appDir: string;
  let asar: string;
  let files: string[];

  before(() => {
    if (BUILT.some((f) => !existsSync(join(REPO, f)))) {
      const build = spawnSync(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, encoding: 'utf8' });
      assert.equal(build.status, 0, `npm run build failed, so there is nothing to package:\n${build.stdout}\n${build.stderr}`);
    }
    work = mkdtempSync(join(tmpdir(), 'cachescope-pack-'));
    // What electron-builder needs from an unpacked Electron for `--dir` on Linux: the executable
    // (renamed to the app's) and a `version` file; the executable carries a fuse wire in Electron's
    // default state, so flipping the configured fuses is exercised too.
    const electronDist = join(work, 'electron-dist');
    mkdirSync(electronDist);
    const electronVersion = (JSON.parse(readFileSync(join(REPO, 'node_modules/electron/package.json'), 'utf8')) as { version: string }).version;
    writeFileSync(join(electronDist, 'electron'), `#!/bin/sh\necho "stand-in Electron"\nexit 0\n# ${FUSE_SENTINEL}\x01\x08${ELECTRON_DEFAULT_WIRE}\n`, 'latin1');
    chmodSync(join(electronDist, 'electron'), 0o755);
    writeFileSync(join(electronDist, 'version'), electronVersion);
    const out = join(work, 'out');
    const r = spawnSync(
      join(REPO, 'node_modules/.bin/electron-builder'),
      ['--linux', 'dir', '--publish', 'never', `-c.electronDist=${electronDist}`, `-c.directories.output=${out}`],
      {
        cwd: REPO,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          // Nothing here may come from the network: any download attempt hits a closed port and fails the test.
          HTTPS_PROXY: 'http://127.0.0.1:9',
          HTTP_PROXY: 'http://127.0.0.1:9',
          NO_PROXY: '',
          ELECTRON_BUILDER_CACHE: join(work, 'cache'),
          CSC_IDENTITY_AUTO_DISCOVERY: 'false',
        },
      },
    );
    assert.equal(r.status, 0, `electron-builder failed:\n${r.stdout}\n${r.stderr}`);
    appDir = join(out, 'linux-unpacked');
    asar = join(appDir, 'resources/app.asar');
    files = listPackage(asar, { isPack: false }).map((f) => f.replaceAll('\\', '/'));
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds the built main, preload and renderer, and package.json names the bundled main', () => {
    for (const f of ['package.json', ...BUILT, 'dist/renderer/app.css']) assert.ok(files.includes(`/${f}`), `${f} in app.asar`);
    const pkg = JSON.parse(extractFile(asar, 'package.json').toString('utf8')) as { main: string };
    assert.equal(pkg.main, 'dist/main/main.cjs');
  });

  it('holds nothing of ours but package.json and the three bundles', () => {
    const own = files.filter((f) => !f.startsWith('/node_modules'));
    const unexpected = own.filter((f) => f !== '/package.json' && f !== '/dist' && !/^\/dist\/(main|preload|renderer)(\/|$)/.test(f));
    assert.deepEqual(unexpected, [], 'sources, tests, scripts or assets in app.asar');
    assert.deepEqual(own.filter((f) => /\.(ts|tsx|map)$/.test(f)), [], 'TypeScript sources or source maps');
  });

  it('holds no tests, sources or dev dependencies anywhere, node_modules included', () => {
    assert.deepEqual(files.filter((f) => /\.test\.[cm]?[jt]sx?$/.test(f)), []);
    assert.deepEqual(files.filter((f) => /^\/(test|electron|renderer\/src|shared|scripts|bench)(\/|$)/.test(f)), []);
    for (const dev of ['electron', 'electron-builder', 'esbuild', 'typescript', 'tsx', 'react', 'react-dom', 'zustand', 'eslint']) {
      assert.equal(files.includes(`/node_modules/${dev}`), false, `devDependency ${dev} shipped`);
    }
  });

  it('ships zstd-napi unpacked and loadable, without its C sources', () => {
    const unpacked = join(appDir, 'resources/app.asar.unpacked/node_modules/zstd-napi');
    assert.ok(existsSync(join(unpacked, 'build/Release/binding.node')), 'binding.node is outside the asar');
    assert.equal(existsSync(join(unpacked, 'deps')) || files.some((f) => f.startsWith('/node_modules/zstd-napi/deps/')), false);
    assert.equal(existsSync(join(unpacked, 'src')) || files.some((f) => f.startsWith('/node_modules/zstd-napi/src/')), false);
    // N-API is ABI-stable, so the packaged copy loads under this Node as it will under Electron.
    const zstd = require(unpacked) as { compress(b: Uint8Array): Buffer; decompress(b: Uint8Array): Buffer };
    const text = Buffer.from('cachescope '.repeat(100));
    assert.deepEqual(zstd.decompress(zstd.compress(text)), text);
  });

  it('ships the demo cache as a resource beside app.asar', () => {
    assert.ok(existsSync(join(appDir, 'resources/demo-cache/index.json')));
    assert.ok(existsSync(join(appDir, 'resources/demo-cache/oci-layout')));
    assert.equal(files.some((f) => f.includes('demo-cache')), false, 'not duplicated inside app.asar');
  });

  it('flips the fuses that keep the packaged binary from running as plain Node', () => {
    const fuses = readFuses(join(appDir, 'cachescope'));
    assert.deepEqual(fuses, {
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: false,
      onlyLoadAppFromAsar: true,
      loadBrowserProcessSpecificV8Snapshot: false,
      grantFileProtocolExtraPrivileges: false,
    });
  });
});

describe('electron-builder.yml', () => {
  const yaml = require('js-yaml') as { load(text: string): unknown };
  type Config = {
    appId: string;
    productName: string;
    asar: boolean;
    asarUnpack: string[];
    files: string[];
    extraResources: { from: string; to: string }[];
    directories: { output: string };
    linux: { target: string[]; maintainer?: string };
    mac: { target: string[] };
    win: { target: string[] };
    [key: string]: unknown;
  };
  const config = yaml.load(readFileSync(join(REPO, 'electron-builder.yml'), 'utf8')) as Config;

  it('declares AppImage and deb, dmg, and nsis', () => {
    assert.deepEqual(config.linux.target, ['AppImage', 'deb']);
    assert.deepEqual(config.mac.target, ['dmg']);
    assert.deepEqual(config.win.target, ['nsis']);
  });

  it('names the app, keeps it in an asar with native modules unpacked, and writes to release/', () => {
    assert.equal(config.appId, 'dev.cachescope.app');
    assert.equal(config.productName, 'Cachescope');
    assert.equal(config.asar, true);
    assert.ok(config.asarUnpack.includes('**/*.node'));
    assert.deepEqual(config.extraResources, [{ from: 'assets/demo-cache', to: 'demo-cache' }]);
    assert.equal(config.directories.output, 'release');
  });

  it('gives deb the maintainer it requires, and leaves its runtime dependencies to electron-builder', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { author?: { email?: string } };
    assert.ok(config.linux.maintainer?.includes('@') || pkg.author?.email, 'a maintainer with an address');
    // An explicit empty `deb.depends` would ship a deb that installs without GTK, NSS and friends.
    assert.equal((config.deb as { depends?: unknown } | undefined)?.depends, undefined);
  });
});
