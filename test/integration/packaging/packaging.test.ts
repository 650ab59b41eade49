import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listPackage } from '@electron/asar';
import { REPO } from '../../helpers/fixtures';

/** electron-builder --dir against a stand-in Electron: packages in seconds without downloading anything. */
describe('packaging (electron-builder with a stand-in electronDist)', () => {
  let work: string;
  let files: string[];
  before(() => {
    if (!existsSync(join(REPO, 'dist/renderer/index.html')) || !existsSync(join(REPO, 'dist/main/main.cjs'))) {
      assert.equal(spawnSync(process.execPath, [join(REPO, 'scripts/build.mjs')], { cwd: REPO, stdio: 'inherit' }).status, 0);
    }
    work = mkdtempSync(join(tmpdir(), 'cachescope-pack-'));
    const dist = join(work, 'electron-dist');
    spawnSync('mkdir', ['-p', dist]);
    writeFileSync(join(dist, 'electron'), '#!/bin/sh\necho stand-in electron\n');
    chmodSync(join(dist, 'electron'), 0o755);
    writeFileSync(join(dist, 'version'), JSON.parse(readFileSync(join(REPO, 'node_modules/electron/package.json'), 'utf8')).version);
    const r = spawnSync(
      join(REPO, 'node_modules/.bin/electron-builder'),
      ['--linux', 'dir', '--publish', 'never', `-c.electronDist=${dist}`, `-c.directories.output=${join(work, 'out')}`],
      { cwd: REPO, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ELECTRON_BUILDER_OFFLINE: 'true' } },
    );
    assert.equal(r.status, 0, `electron-builder failed:\n${r.stdout}\n${r.stderr}`);
    files = listPackage(join(work, 'out/linux-unpacked/resources/app.asar'), { isPack: false });
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('holds the built main, preload and renderer', () => {
    for (const f of ['/package.json', '/dist/main/main.cjs', '/dist/preload/preload.cjs', '/dist/renderer/index.html', '/dist/renderer/app.js', '/dist/renderer/app.css']) {
      assert.ok(files.includes(f), `${f} in app.asar`);
    }
  });

  it('holds no sources, tests or source maps', () => {
    const own = files.filter((f) => !f.startsWith('/node_modules/'));
    assert.deepEqual(own.filter((f) => /\.(ts|tsx|map)$/.test(f) || /^\/(test|electron|renderer|shared|scripts|bench)\//.test(f)), []);
    assert.equal(files.filter((f) => /\.test\.[jt]sx?$/.test(f)).length, 0);
  });

  it('ships the native zstd module unpacked and the demo cache as a resource', () => {
    assert.ok(existsSync(join(work, 'out/linux-unpacked/resources/app.asar.unpacked/node_modules/zstd-napi/build/Release/binding.node')));
    assert.ok(existsSync(join(work, 'out/linux-unpacked/resources/demo-cache/index.json')));
    // The UI libraries are bundled into app.js, so they are not shipped as node_modules.
    assert.equal(files.some((f) => f.startsWith('/node_modules/react/')), false);
  });

  it('declares the installer targets for every platform', () => {
    const yml = readFileSync(join(REPO, 'electron-builder.yml'), 'utf8');
    const targets = (section: string) => {
      const block = yml.split(/\n(?=\S)/).find((b) => b.startsWith(`${section}:`)) ?? '';
      return [...block.matchAll(/^\s+- (\w+)$/gm)].map((m) => m[1]);
    };
    assert.deepEqual(targets('linux'), ['AppImage', 'deb']);
    assert.deepEqual(targets('mac'), ['dmg']);
    assert.deepEqual(targets('win'), ['nsis']);
  });
});
