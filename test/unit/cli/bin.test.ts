/**
 * bin/cachescope.mjs picks what to run: the built CLI (dist/cli) while no source it was built from is
 * newer, the TypeScript sources through tsx otherwise. Checked on a scratch checkout whose "bundle"
 * and "sources" say which of them ran.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { FIXTURES, REPO } from '../../helpers/fixtures';

const exec = promisify(execFile);
let root: string;

async function run(env: Record<string, string> = {}): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await exec(process.execPath, [join(root, 'bin', 'cachescope.mjs'), 'inspect', 'x'], { env: { ...process.env, CACHESCOPE_CLI: '', ...env } });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

const source = () => join(root, 'electron', 'cli', 'main.ts');
const bundle = () => join(root, 'dist', 'cli', 'cachescope.mjs');
const at = (file: string, seconds: number) => utimes(file, seconds, seconds);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cachescope-bin-'));
  await mkdir(join(root, 'bin'));
  await copyFile(join(REPO, 'bin', 'cachescope.mjs'), join(root, 'bin', 'cachescope.mjs'));
  await symlink(join(REPO, 'node_modules'), join(root, 'node_modules'));
  await writeFile(join(root, 'package.json'), JSON.stringify({ type: 'module' }));
  await mkdir(join(root, 'electron', 'cli'), { recursive: true });
  await writeFile(source(), "export async function main(args: string[]): Promise<number> {\n  console.log(`source ${args.join(' ')}`);\n  return 3;\n}\n");
  await mkdir(join(root, 'dist', 'cli'), { recursive: true });
  await writeFile(bundle(), "export async function main(args) { console.log(`built ${args.join(' ')}`); return 0; }\n");
  await writeFile(join(root, 'dist', 'cli', 'inputs.json'), JSON.stringify(['electron/cli/main.ts', 'shared/gone.ts']));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('bin/cachescope.mjs', () => {
  it('runs the built CLI when every source it lists is older (absent ones do not count)', async () => {
    await at(source(), 1_000_000);
    await at(bundle(), 2_000_000);
    assert.deepEqual(await run(), { code: 0, stdout: 'built inspect x\n' });
  });

  it('runs the sources through tsx when one is newer than the build, or when asked to', async () => {
    await at(source(), 3_000_000);
    assert.deepEqual(await run(), { code: 3, stdout: 'source inspect x\n' });
    await at(source(), 1_000_000);
    assert.deepEqual(await run({ CACHESCOPE_CLI: 'source' }), { code: 3, stdout: 'source inspect x\n' });
  });

  it('CACHESCOPE_CLI=built runs the build even when a source is newer (the start-up bench)', async () => {
    await at(source(), 3_000_000);
    assert.deepEqual(await run({ CACHESCOPE_CLI: 'built' }), { code: 0, stdout: 'built inspect x\n' });
  });

  it('without a build (a fresh checkout before npm ci) runs the sources', async () => {
    await rm(join(root, 'dist'), { recursive: true });
    assert.deepEqual(await run(), { code: 3, stdout: 'source inspect x\n' });
  });

  it('the real build (scripts/build.mjs cli) runs inspect --json and verify from its chunks', async () => {
    const dist = join(root, 'real-dist');
    const built = spawnSync(process.execPath, [join(REPO, 'scripts', 'build.mjs'), 'cli'], { cwd: REPO, env: { ...process.env, CACHESCOPE_DIST: dist }, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    const fixture = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
    const runner = join(root, 'run-built.mjs');
    await writeFile(runner, `const { main } = await import(${JSON.stringify(join(dist, 'cli', 'cachescope.mjs'))});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
    const inspect = await exec(process.execPath, [runner, 'inspect', fixture, '--json'], { timeout: 60_000 });
    assert.equal((JSON.parse(inspect.stdout) as { summary: { layerEntries: number } }).summary.layerEntries > 0, true);
    const verify = await exec(process.execPath, [runner, 'verify', fixture], { timeout: 60_000 });
    assert.match(verify.stdout, /no corruption found/);
  });
});
