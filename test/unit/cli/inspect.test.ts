/**
 * `cachescope inspect`: through main() with a capturing io, and once as a real process through
 * bin/cachescope.mjs (the `npx cachescope` wiring). One JSON object with --json, a readable summary
 * without, and a one-line error with a non-zero exit for sources that cannot be opened.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { main } from '../../../electron/cli/main';
import type { CommandIo } from '../../../electron/cli/io';
import { FIXTURES, REPO, fixture } from '../../helpers/fixtures';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'cachescope-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Captured extends CommandIo {
  stdout: string[];
  stderr: string[];
}

function capture(): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTty: false };
}

async function inspect(...args: string[]): Promise<{ code: number; io: Captured }> {
  const io = capture();
  const code = await main(['inspect', ...args], io);
  return { code, io };
}

/** `roots` is the old name of `chainRoots`, kept in the JSON for scripts written before the rename. */
const DTO_SUMMARY = { layerEntries: 21, uniqueBlobs: 18, records: 14, recordsWithResults: 7, chainRoots: 1, sourceRecords: 7, roots: 1, missingBlobs: 9, totalBytes: 347400920 };

/** A failure: non-zero exit, exactly one stderr line naming the command, no stack trace. */
function assertOneLineError(r: { code: number; io: Captured }, ...parts: string[]): void {
  assert.equal(r.code, 1);
  assert.equal(r.io.stderr.length, 1, r.io.stderr.join('\n'));
  const line = r.io.stderr[0];
  assert.ok(line.startsWith('cachescope inspect: '), line);
  assert.equal(line.includes('\n'), false, `one line: ${JSON.stringify(line)}`);
  assert.doesNotMatch(line, /\bat .*\(.*:\d+:\d+\)/, 'no stack trace');
  for (const p of parts) assert.ok(line.includes(p), `${JSON.stringify(line)} should include ${JSON.stringify(p)}`);
}

describe('cachescope inspect --json', () => {
  it('prints one JSON object with manifest, variant, config, summary, layers, records, orphans, warnings', async () => {
    const { code, io } = await inspect(fixture.dto, '--json');
    assert.equal(code, 0);
    assert.equal(io.stderr.length, 0);
    assert.equal(io.stdout.length, 1);
    const v = JSON.parse(io.stdout[0]);
    const index = JSON.parse(readFileSync(join(fixture.dto, 'index.json'), 'utf8'));
    assert.deepEqual(
      { mediaType: v.manifest.mediaType, digest: v.manifest.digest, size: v.manifest.size },
      { mediaType: index.manifests[0].mediaType, digest: index.manifests[0].digest, size: index.manifests[0].size },
    );
    assert.equal(v.variant, 'image-manifest');
    assert.deepEqual({ digest: v.config.digest, size: v.config.size }, { digest: 'sha256:ffb11eed7484f9c304c553b61dd211d16ff862386479617aa4eaa143686ac8cd', size: 4177 });
    assert.deepEqual(v.summary, DTO_SUMMARY);
    assert.equal(v.layers.length, 21);
    assert.deepEqual(Object.keys(v.layers[0]).sort(), ['blob', 'blobUses', 'compression', 'createdAt', 'diffID', 'index', 'mediaType', 'parent', 'parentBlob', 'present', 'problem', 'size'].sort());
    assert.equal(v.records.length, 14);
    for (const key of ['index', 'digest', 'inputs', 'results', 'chains', 'resultSize']) assert.ok(key in v.records[0], key);
    assert.deepEqual(v.records[12].inputs[1], [
      { link: 2, selector: null },
      { link: 5, selector: 'sha256:cec8935deaed4c01229e461208de8a6aeddc45814eb15af2fe4e8a1fb35f9520' },
    ]);
    assert.equal(v.orphans.items.length, 8);
    assert.equal(v.orphans.bytes, 38131);
    assert.deepEqual(v.warnings, []);
  });

  it('the index form and the non-layout sources', async () => {
    const drone = JSON.parse((await inspect(fixture.drone, '--json')).io.stdout[0]);
    assert.equal(drone.variant, 'index');
    assert.equal(drone.manifest.mediaType, 'application/vnd.oci.image.index.v1+json');
    const inline = JSON.parse((await inspect(fixture.inlineConfig, '--json')).io.stdout[0]);
    assert.equal(inline.variant, 'inline');
    assert.equal(inline.manifest, null);
    assert.equal(inline.orphans, null);
    const bare = JSON.parse((await inspect(fixture.gitlabConfig, '--json')).io.stdout[0]);
    assert.equal(bare.variant, 'config-only');
  });

  it('a failure with --json also prints {error} on stdout', async () => {
    const r = await inspect(join(FIXTURES, 'index-json-only', 'saasLMS', '.buildx-cache'), '--json');
    assert.equal(r.code, 1);
    assert.deepEqual(Object.keys(JSON.parse(r.io.stdout[0])), ['error']);
    assert.equal(JSON.parse(r.io.stdout[0]).error.code, 'missing-blob');
  });
});

describe('cachescope inspect, readable', () => {
  it('a summary with the form, digests, counts, layers and records', async () => {
    const { code, io } = await inspect(fixture.margo);
    assert.equal(code, 0);
    const text = io.stdout.join('\n');
    for (const want of [
      'manifest:  image manifest, OCI media types',
      'sha256:23e9270181666a23de5842ed666d302292a80e9cabe2de04984a2cca99dc8163  2885 bytes',
      'config:    sha256:49e0121fb6118202067d45aece7bade82e8813368de36cd9375ddeb0b082b961  5090 bytes  (v0)',
      'layer entries         8',
      'records               26',
      'records with results  7',
      // Two different counts with two names: layer entries with parent -1, records with no inputs.
      'chain roots           1',
      'source records        12',
      'missing blobs         8',
      'total bytes           90763587',
      'orphans:   2 blobs',
      '17 13|20*|21*',
    ]) {
      assert.ok(text.includes(want), `missing ${JSON.stringify(want)} in\n${text}`);
    }
  });

  it('usage errors exit 2', async () => {
    assert.equal((await inspect()).code, 2);
    assert.equal((await inspect(fixture.dto, '--bogus')).code, 2);
    assert.equal((await inspect(fixture.dto, fixture.margo)).code, 2);
  });
});

describe('cachescope inspect, failures: non-zero exit and one clear line', () => {
  it('index-json-only: the manifest blob is missing', async () => {
    const dir = join(FIXTURES, 'index-json-only', 'spec-kit', '.buildx-cache');
    assertOneLineError(await inspect(dir), 'sha256:bf1424942563771eb957cdf9af81c415c127ba3e12884bd361e5053a54c56bc6', 'is missing');
  });

  it('a file path that does not exist', async () => {
    assertOneLineError(await inspect(join(scratch, 'nope.json')), 'nope.json', 'no such file or directory');
  });

  it('a malformed index.json (the parser would quote a newline; the line stays one line)', async () => {
    const dir = mkdtempSync(join(scratch, 'bad-'));
    writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,\n"manifests":[\n}');
    assertOneLineError(await inspect(dir), join(dir, 'index.json'), 'line 3');
  });

  it('an unknown tag', async () => {
    assertOneLineError(await inspect(`${fixture.dto}:v9`), 'no cache tagged "v9"', 'tags: latest');
  });
});

describe('bin/cachescope.mjs as a real process', () => {
  it('`node bin/cachescope.mjs inspect <fixture> --json` prints the view and exits 0', async () => {
    const { stdout, stderr } = await run(process.execPath, [join(REPO, 'bin', 'cachescope.mjs'), 'inspect', fixture.dto, '--json'], { cwd: REPO, maxBuffer: 16 << 20 });
    assert.equal(stderr, '');
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1, 'one JSON object on one line');
    assert.deepEqual(JSON.parse(lines[0]).summary, DTO_SUMMARY);
  });

  it('a failing source exits non-zero with one line on stderr', async () => {
    await assert.rejects(run(process.execPath, [join(REPO, 'bin', 'cachescope.mjs'), 'inspect', join(scratch, 'missing-dir')], { cwd: REPO }), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 1);
      assert.equal(err.stderr?.trimEnd().split('\n').length, 1, err.stderr);
      assert.match(err.stderr ?? '', /^cachescope inspect: .*missing-dir: no such file or directory/);
      return true;
    });
  });
});
