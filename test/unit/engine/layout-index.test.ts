import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import type { Descriptor } from '../../../shared/oci/types';
import { findJsonSyntaxError } from '../../../shared/cache/json-text';
import { collectGarbage } from '../../../electron/engine/store/gc';
import { ensureOciLayoutFile, parseIndexText, putTag, readIndex, resolveTag, serializeIndex, tagProblem } from '../../../electron/engine/store/layout-index';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FIXTURES = process.env.CACHESCOPE_FIXTURES ?? join(REPO, '..', 'shared', 'fixtures');
const DTO = join(FIXTURES, 'dto-pattern-local-image-manifest', '.docker-cache');
const DRONE = join(FIXTURES, 'drone-buildkit-local-oci-index-2021', 'cache');
const MARGO = join(FIXTURES, 'margo-sandbox-local-image-manifest', '.buildx-cache');

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const desc = (seed: string, size = 100): Descriptor => ({ mediaType: OCI_MANIFEST, digest: digestOf(seed), size });

function expectCacheError(code: string, ...patterns: (RegExp | string)[]) {
  return (e: unknown) => {
    assert.ok(e instanceof CacheError, `expected a CacheError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} should mention ${JSON.stringify(p)}`);
      else assert.match(e.message, p);
    }
    return true;
  };
}

describe('layout index', () => {
  let base: string;
  let n = 0;
  const fresh = async () => {
    const d = join(base, `layout-${n++}`);
    await mkdir(d);
    return d;
  };
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-index-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('writes exactly the bytes BuildKit writes: compact, struct order, no newline, plus oci-layout', async () => {
    const dir = await fresh();
    const d = desc('m1', 2885);
    await putTag(dir, 'latest', d);
    const text = await readFile(join(dir, 'index.json'), 'utf8');
    assert.equal(
      text,
      `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[{"mediaType":"${OCI_MANIFEST}","digest":"${d.digest}","size":2885,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`,
    );
    assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
    assert.deepEqual((await readdir(dir)).sort(), ['index.json', 'oci-layout'], 'no lock or temp file is left');
  });

  it('reproduces real BuildKit index.json files byte for byte when re-tagging the same manifest', async () => {
    for (const fixtureDir of [DTO, MARGO]) {
      const dir = await fresh();
      await copyFile(join(fixtureDir, 'index.json'), join(dir, 'index.json'));
      const original = await readFile(join(fixtureDir, 'index.json'), 'utf8');
      const index = await readIndex(dir);
      const current = resolveTag(index, 'latest');
      await putTag(dir, 'latest', { mediaType: current.mediaType, digest: current.digest, size: current.size });
      assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), original);
      assert.equal(serializeIndex(index), original);
    }
  });

  it('replacing a tag keeps the other tags, and keeps same-ref entries that carry an image name', async () => {
    const dir = await fresh();
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ ...desc('img'), annotations: { 'io.containerd.image.name': 'docker.io/x/y:latest', 'org.opencontainers.image.ref.name': 'latest' } }],
      }),
    );
    await putTag(dir, 'latest', desc('a'));
    await putTag(dir, 'other', desc('b'));
    await putTag(dir, 'latest', desc('c'));
    const index = await readIndex(dir);
    assert.deepEqual(
      index.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']]),
      [
        [digestOf('img'), 'latest'],
        [digestOf('b'), 'other'],
        [digestOf('c'), 'latest'],
      ],
    );
    // Lookup checks io.containerd.image.name first, then ref.name (first match wins, like StoreIndex.Get).
    assert.equal(resolveTag(index, 'docker.io/x/y:latest').digest, digestOf('img'));
    assert.equal(resolveTag(index, 'other').digest, digestOf('b'));
  });

  it('fills a missing mediaType and schemaVersion, keeps a present mediaType, keeps entry fields', async () => {
    // The 2021 drone fixture has no top-level mediaType (written before BuildKit v0.14).
    const drone = await fresh();
    await copyFile(join(DRONE, 'index.json'), join(drone, 'index.json'));
    const before = JSON.parse(await readFile(join(DRONE, 'index.json'), 'utf8'));
    assert.equal(before.mediaType, undefined);
    await putTag(drone, 'v2', desc('x'));
    const after = await readFile(join(drone, 'index.json'), 'utf8');
    assert.ok(after.startsWith(`{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${JSON.stringify(before.manifests[0])},`), after);

    const docker = await fresh();
    const list = 'application/vnd.docker.distribution.manifest.list.v2+json';
    await writeFile(join(docker, 'index.json'), `{"schemaVersion":0,"mediaType":"${list}","manifests":[{"digest":"${digestOf('q')}","size":1,"urls":["https://a/b?c&d"],"annotations":{"z":"<1>","a":"2"}}]}`);
    await putTag(docker, 'latest', desc('y'));
    const text = await readFile(join(docker, 'index.json'), 'utf8');
    // schemaVersion 0 becomes 2; the mediaType is kept; an entry without mediaType gets Go's "mediaType":"";
    // annotation keys are sorted and <, >, & are escaped the way Go does.
    assert.equal(
      text,
      `{"schemaVersion":2,"mediaType":"${list}","manifests":[{"mediaType":"","digest":"${digestOf('q')}","size":1,"urls":["https://a/b?c\\u0026d"],"annotations":{"a":"2","z":"\\u003c1\\u003e"}},{"mediaType":"${OCI_MANIFEST}","digest":"${digestOf('y')}","size":100,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`,
    );
    // An empty index.json counts as none, as in BuildKit.
    const empty = await fresh();
    await writeFile(join(empty, 'index.json'), '');
    await putTag(empty, 'latest', desc('z'));
    assert.equal((await readIndex(empty)).manifests.length, 1);
  });

  it('copies the input descriptor like Go (extra annotations kept, sorted with the tag)', async () => {
    const dir = await fresh();
    await putTag(dir, 'latest', { ...desc('ann'), annotations: { 'zz.last': '1', 'aa.first': '2' } });
    const text = await readFile(join(dir, 'index.json'), 'utf8');
    assert.ok(text.includes('"annotations":{"aa.first":"2","org.opencontainers.image.ref.name":"latest","zz.last":"1"}'), text);
  });

  it('gives errors that name the file and the field', async () => {
    const dir = await fresh();
    const file = join(dir, 'index.json');
    await assert.rejects(readIndex(dir), expectCacheError('invalid-source', `${file} does not exist`));

    await writeFile(file, '{"schemaVersion":2,\n "manifests":}');
    await assert.rejects(readIndex(dir), expectCacheError('invalid-json', file, 'malformed JSON at line 2, column 14 (character 33)'));

    await writeFile(file, '{"schemaVersion":2,"manifests":"nope"}');
    await assert.rejects(readIndex(dir), expectCacheError('invalid-manifest', 'index.json: manifests: expected an array, got string'));

    const good = { mediaType: OCI_MANIFEST, digest: digestOf('g'), size: 1 };
    await writeFile(file, JSON.stringify({ schemaVersion: 2, manifests: [good, good, { ...good, digest: 'sha256:xyz' }] }));
    await assert.rejects(readIndex(dir), expectCacheError('invalid-digest', 'index.json: manifests[2].digest:'));

    await writeFile(file, JSON.stringify({ schemaVersion: 2, manifests: [{ ...good, size: '12' }] }));
    await assert.rejects(readIndex(dir), expectCacheError('invalid-manifest', 'index.json: manifests[0].size: expected an integer, got string'));

    await writeFile(file, JSON.stringify({ schemaVersion: '2', manifests: [] }));
    await assert.rejects(readIndex(dir), expectCacheError('invalid-manifest', 'index.json: schemaVersion: expected an integer'));

    await writeFile(file, JSON.stringify({ schemaVersion: 2, mediaType: 5, manifests: [] }));
    await assert.rejects(readIndex(dir), expectCacheError('invalid-manifest', 'index.json: mediaType: expected a string, got number'));

    await writeFile(file, '[]');
    await assert.rejects(readIndex(dir), expectCacheError('invalid-manifest', 'index.json: (root): expected an object, got array'));

    // putTag never overwrites an index.json it cannot read.
    await writeFile(file, '{"manifests":[');
    await assert.rejects(putTag(dir, 'latest', desc('p')), expectCacheError('invalid-json', file));
    assert.equal(await readFile(file, 'utf8'), '{"manifests":[');
  });

  it('locates JSON syntax errors', () => {
    assert.equal(findJsonSyntaxError('{"a":1}'), null);
    assert.equal(findJsonSyntaxError('{"a":}')?.offset, 5);
    assert.equal(findJsonSyntaxError('{"a":1')?.offset, 6);
    assert.equal(findJsonSyntaxError('{"a":1} x')?.offset, 8);
    assert.equal(findJsonSyntaxError('')?.offset, 0);
    assert.equal(findJsonSyntaxError('[1,2,]')?.offset, 5);
    assert.equal(findJsonSyntaxError('"\\x"')?.offset, 2);
  });

  it('reports an unknown tag with the tags that exist', async () => {
    const dir = await fresh();
    await putTag(dir, 'latest', desc('1'));
    await putTag(dir, 'main', desc('2'));
    assert.throws(() => resolveTag({ schemaVersion: 2, manifests: [] }, 'x'), expectCacheError('unknown-tag', 'no cache tagged "x"', 'no tagged entries'));
    await assert.rejects(async () => resolveTag(await readIndex(dir), 'nope', join(dir, 'index.json')), expectCacheError('unknown-tag', 'no cache tagged "nope"', 'tags: latest, main', join(dir, 'index.json')));
  });

  it('refuses tags that are not OCI tags, including traversal attempts, before touching the disk', async () => {
    const dir = await fresh();
    for (const bad of ['../escape', 'a/b', '..', 'a..b', 'x\0y', '', '.hidden', '-dash', 'sp ace', 'colon:tag', 'a\\b', 'x'.repeat(129)]) {
      await assert.rejects(putTag(dir, bad, desc('t')), expectCacheError('bad-request', 'invalid tag'), `tag ${JSON.stringify(bad)}`);
      assert.notEqual(tagProblem(bad), null);
    }
    for (const good of ['latest', 'v1.2.3', '_x', 'A-b_c.d', 'x'.repeat(128)]) assert.equal(tagProblem(good), null, good);
    assert.deepEqual(await readdir(dir), []);
  });

  it('validates the descriptor it tags', async () => {
    const dir = await fresh();
    await assert.rejects(putTag(dir, 'latest', { ...desc('d'), digest: 'sha256:../../x' }), expectCacheError('invalid-digest', 'digest'));
    await assert.rejects(putTag(dir, 'latest', { ...desc('d'), size: -1 }), expectCacheError('bad-request', 'size: expected an integer >= 0'));
    assert.deepEqual(await readdir(dir), []);
  });

  it('with requireBlobs, refuses to tag when a needed blob is gone (checked under the lock)', async () => {
    const dir = await fresh();
    await putTag(dir, 'latest', desc('keep'));
    const before = await readFile(join(dir, 'index.json'), 'utf8');
    const d = desc('needs-blob');
    await assert.rejects(putTag(dir, 'latest', d, { requireBlobs: [d.digest] }), expectCacheError('missing-blob', d.digest));
    assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), before);
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'blobs', 'sha256', d.digest.slice(7)), 'x');
    await putTag(dir, 'latest', d, { requireBlobs: [d.digest] });
    assert.equal(resolveTag(await readIndex(dir), 'latest').digest, d.digest);
  });

  it('serializes concurrent updates: no tag is lost', async () => {
    const dir = await fresh();
    await Promise.all(Array.from({ length: 12 }, (_, i) => putTag(dir, `t${i}`, desc(`c${i}`))));
    const index = await readIndex(dir);
    assert.deepEqual(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort(), Array.from({ length: 12 }, (_, i) => `t${i}`).sort());
    assert.equal(existsSync(join(dir, 'index.json.lock')), false);
  });

  it('writes oci-layout only when absent', async () => {
    const dir = await fresh();
    assert.equal(await ensureOciLayoutFile(dir), true);
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n');
    assert.equal(await ensureOciLayoutFile(dir), false);
    assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}\n');
  });
});

describe('index.json: what is refused, and errors that say why', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-index-refuse-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('a symlinked index.json is refused when reading, tagging and collecting garbage', async () => {
    const dir = join(base, 'symlinked');
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const elsewhere = join(base, 'elsewhere.json');
    await writeFile(elsewhere, JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await symlink(elsewhere, join(dir, 'index.json'));
    const refused = expectCacheError('invalid-source', join(dir, 'index.json'), 'symbolic link');
    await assert.rejects(readIndex(dir), refused);
    await assert.rejects(putTag(dir, 'latest', desc('x')), refused);
    await assert.rejects(collectGarbage(dir, { dryRun: true }), refused);
    assert.equal(await readFile(elsewhere, 'utf8'), JSON.stringify({ schemaVersion: 2, manifests: [] }), 'the link target was not rewritten');
  });

  it('a FIFO in place of index.json is refused instead of hanging the reader', async () => {
    const dir = join(base, 'fifo');
    await mkdir(dir, { recursive: true });
    try {
      execFileSync('mkfifo', [join(dir, 'index.json')]);
    } catch {
      return; // no mkfifo on this platform
    }
    await assert.rejects(readIndex(dir), expectCacheError('invalid-source', 'not a regular file'));
  });

  it('"manifests": null reads as empty for inspect, and is refused where gc asks for a list', () => {
    const file = '/x/index.json';
    assert.deepEqual(parseIndexText('{"schemaVersion":2,"manifests":null}', file).manifests, []);
    assert.throws(() => parseIndexText('{"schemaVersion":2,"manifests":null}', file, { requireManifests: true }), expectCacheError('invalid-manifest', '/x/index.json: manifests: expected an array'));
    assert.throws(() => parseIndexText('{"schemaVersion":2}', file, { requireManifests: true }), expectCacheError('invalid-manifest', 'manifests'));
  });

  it('on a read-only mount the error says EROFS (read-only), not ENOENT', async (t) => {
    const mnt = join(base, 'ro');
    await mkdir(join(mnt, 'layout', 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(mnt, 'layout', 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    try {
      execFileSync('mount', ['--bind', mnt, mnt], { stdio: 'ignore' });
    } catch {
      return t.skip('cannot bind-mount here (needs root)');
    }
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', mnt], { stdio: 'ignore' });
      const readOnly = (e: unknown) => {
        assert.ok(e instanceof CacheError, String(e));
        assert.match(e.message, /read-only/);
        assert.doesNotMatch(e.message, /ENOENT|does not exist/);
        return true;
      };
      // A new folder on the mount: Node's recursive mkdir says ENOENT there.
      await assert.rejects(putTag(join(mnt, 'new', 'cache'), 'latest', desc('y')), (e: unknown) => readOnly(e) && /EROFS/.test((e as Error).message));
      await assert.rejects(putTag(join(mnt, 'layout'), 'latest', desc('y')), readOnly);
      await assert.rejects(collectGarbage(join(mnt, 'layout')), readOnly);
      assert.equal((await collectGarbage(join(mnt, 'layout'), { dryRun: true })).blobs, 0, 'a dry run works on a read-only layout');
    } finally {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
    }
  });
});
