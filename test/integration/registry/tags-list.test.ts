/**
 * `cachescope tags` against a real distribution 2.8: BuildKit v0.24 caches in both forms and both
 * media-type families, two tags on one manifest, a plain image and an image with inline cache; each
 * row's form, kind, bytes and newest date agree with the local layouts they were pushed from; Link
 * pages are followed (the counting proxy serves the pages, as distribution 2.8 ignores n=).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RegistryTagRow, RegistryTagsResult } from '../../../shared/contract/requests';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { listRegistryTags } from '../../../electron/engine/sources/registry-tags';
import { FIXTURES } from '../../helpers/fixtures';
import { writeImageLayout } from '../../helpers/image-layout';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';
import { runCli } from '../../helpers/run-cli';
import type { CliRun } from '../../helpers/run-cli';


const IMAGE_MANIFEST = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const INDEX = join(FIXTURES, 'buildkit-v0.24-index-gzip');
const DOCKER_LIST = join(FIXTURES, 'buildkit-v0.24-docker-list-gzip');
const INLINE_TIME = '2025-03-04T05:06:07.123456789Z';

interface LocalTruth {
  digest: string;
  /** digest → size of every blob the tag references, the manifest included. */
  blobs: Map<string, number>;
  createdAt: string | null;
}

/** Newest RFC 3339 time among strings (nanosecond-exact, compared as [seconds, fraction]). */
function newest(times: string[]): string | null {
  const key = (t: string) => {
    const m = /^(.*?)(?:\.(\d+))?Z$/.exec(t)!;
    return [Date.parse(`${m[1]}Z`), Number((m[2] ?? '').padEnd(9, '0'))] as const;
  };
  let best: string | null = null;
  for (const t of times) {
    if (best === null) best = t;
    else {
      const [a, b] = [key(t), key(best)];
      if (a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])) best = t;
    }
  }
  return best;
}

/** What the layout on disk says, read straight from its JSON (not through the engine). */
async function truthOf(dir: string): Promise<LocalTruth> {
  const m = layoutManifest(dir);
  const blobs = new Map<string, number>([[m.digest, m.bytes.length]]);
  const json = m.json as { config?: { digest: string; size: number; mediaType: string }; layers?: { digest: string; size: number }[]; manifests?: { digest: string; size: number; mediaType: string }[] };
  const descs = [...(json.config ? [json.config] : []), ...(json.layers ?? []), ...(json.manifests ?? [])];
  for (const d of descs) blobs.set(d.digest, d.size);
  const texts = [m.bytes.toString('utf8')];
  const cfg = descs.find((d) => 'mediaType' in d && /cacheconfig/.test((d as { mediaType: string }).mediaType));
  if (cfg) texts.push(await readFile(join(dir, 'blobs', 'sha256', cfg.digest.slice(7)), 'utf8'));
  const times = texts.flatMap((t) => [...t.matchAll(/"(?:createdAt|buildkit\/createdat)":"([^"]+)"/g)].map((x) => x[1]));
  return { digest: m.digest, blobs, createdAt: newest(times) };
}

function cli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliRun> {
  return runCli(args, { env });
}

describe('cachescope tags on a real registry', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const truth = new Map<string, LocalTruth>();

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-tags-'));
    env = { ...process.env, DOCKER_CONFIG: join(tmp, 'docker'), XDG_CACHE_HOME: join(tmp, 'cache') };
    registry = await startRegistry();
    const plain = join(tmp, 'plain');
    const inline = join(tmp, 'inline');
    await writeImageLayout(plain, { content: 'just an image' });
    await writeImageLayout(inline, { content: 'an image with inline cache', inlineRecords: [{ digest: `sha256:${'1'.repeat(64)}`, layers: [{ layer: 0, createdAt: INLINE_TIME }] }] });
    const pushes: [string, string][] = [
      [INDEX, 'index'],
      [IMAGE_MANIFEST, 'main'],
      [IMAGE_MANIFEST, 'main-copy'],
      [DOCKER_LIST, 'docker'],
      [plain, 'plain'],
      [inline, 'inline'],
    ];
    for (const [dir, tag] of pushes) {
      await pushFixture(registry, dir, `team/cache:${tag}`);
      truth.set(tag, await truthOf(dir));
    }
  });
  after(async () => {
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const row = (result: RegistryTagsResult, tag: string): RegistryTagRow => {
    const r = result.rows.find((x) => x.tag === tag);
    assert.ok(r, `no row for ${tag}: ${result.rows.map((x) => x.tag).join(', ')}`);
    return r;
  };

  it('lists every tag with its form, kind, media types, bytes, date and digest (--json)', async () => {
    const out = await cli(env, 'tags', `${registry.host}/team/cache`, '--json');
    assert.equal(out.code, 0, out.stderr);
    const result = JSON.parse(out.stdout) as RegistryTagsResult;
    assert.equal(result.repository, `${registry.host}/team/cache`);
    assert.deepEqual(result.rows.map((r) => r.tag).sort(), ['docker', 'index', 'inline', 'main', 'main-copy', 'plain']);

    const expect: Record<string, Partial<RegistryTagRow>> = {
      index: { form: 'index', kind: 'cache', family: 'oci', mediaType: 'application/vnd.oci.image.index.v1+json' },
      main: { form: 'image-manifest', kind: 'cache', family: 'oci', mediaType: 'application/vnd.oci.image.manifest.v1+json' },
      docker: { form: 'index', kind: 'cache', family: 'docker', mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' },
      plain: { form: 'image', kind: 'neither', family: 'oci', createdAt: null },
      inline: { form: 'image', kind: 'inline', family: 'oci', createdAt: INLINE_TIME },
    };
    for (const [tag, want] of Object.entries(expect)) {
      const r = row(result, tag);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(r[k as keyof RegistryTagRow], v, `${tag}.${k}`);
      const t = truth.get(tag)!;
      assert.equal(r.digest, t.digest, `${tag}: digest`);
      assert.equal(r.totalBytes, [...t.blobs.values()].reduce((a, b) => a + b, 0), `${tag}: total bytes`);
      if (r.kind === 'cache') assert.equal(r.createdAt, t.createdAt, `${tag}: newest buildkit/createdat`);
      assert.deepEqual(r.compressions, ['gzip'], `${tag}: compressions`);
      assert.equal(r.error, null, `${tag}: ${r.error}`);
    }

    // Two tags on one manifest: each names the other, and neither has a byte of its own.
    assert.deepEqual(row(result, 'main').sharedWith, ['main-copy']);
    assert.deepEqual(row(result, 'main-copy').sharedWith, ['main']);
    assert.equal(row(result, 'main').uniqueBytes, 0);
    assert.deepEqual(row(result, 'index').sharedWith, []);

    // Unique bytes: the blobs of a tag no other tag references, from the layouts themselves.
    for (const tag of ['index', 'docker', 'plain', 'inline']) {
      const others = [...truth].filter(([t]) => t !== tag).flatMap(([, v]) => [...v.blobs.keys()]);
      const unique = [...truth.get(tag)!.blobs].filter(([d]) => !others.includes(d)).reduce((a, [, s]) => a + s, 0);
      assert.equal(row(result, tag).uniqueBytes, unique, `${tag}: unique bytes`);
    }
  });

  it('prints a table naming shared manifests, without --json', async () => {
    const out = await cli(env, 'tags', `${registry.host}/team/cache`);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^127\.0\.0\.1:\d+\/team\/cache: 6 tags$/m);
    assert.match(out.stdout, /^TAG\s+FORM\s+KIND\s+TYPES\s+LAYERS\s+TOTAL\s+UNIQUE\s+CREATED\s+DIGEST$/m);
    assert.match(out.stdout, /^index\s+index\s+cache\s+OCI gzip\s+\d+\s/m);
    assert.match(out.stdout, /^docker\s+index\s+cache\s+Docker gzip\s/m);
    assert.match(out.stdout, /^plain\s+image\s+neither\s+OCI gzip\s+1\s/m);
    assert.match(out.stdout, /^inline\s+image\s+inline\s+OCI gzip\s+1\s.*2025-03-04T05:06:07\.123456789Z/m);
    assert.match(out.stdout, /^main: same manifest as main-copy$/m);
  });

  it('reads manifests and configs only: no layer blob is fetched', async () => {
    const proxy = await startProxy(registry);
    try {
      const client = new RegistryClient({ env });
      try {
        await listRegistryTags(client, `${proxy.host}/team/cache`);
      } finally {
        client.close();
      }
      const configs = new Set<string>();
      for (const [tag, t] of truth) {
        const m = layoutManifest(tag === 'plain' || tag === 'inline' ? join(tmp, tag) : tag === 'index' ? INDEX : tag === 'docker' ? DOCKER_LIST : IMAGE_MANIFEST);
        const json = m.json as { config?: { digest: string }; manifests?: { digest: string; mediaType: string }[] };
        if (json.config) configs.add(json.config.digest);
        for (const d of json.manifests ?? []) if (/cacheconfig/.test(d.mediaType)) configs.add(d.digest);
        assert.ok(t);
      }
      const blobGets = proxy.requests().filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
      for (const r of blobGets) assert.ok(configs.has(r.path.split('/blobs/')[1]), `fetched a non-config blob: ${r.path}`);
      assert.equal(blobGets.length, configs.size, "each config is read once, even when two tags share it");
    } finally {
      await proxy.stop();
    }
  });

  it('follows Link pagination across pages', async () => {
    // distribution 2.8 ignores n=, so the proxy answers the tag list in two pages linked by Link.
    const proxy: CountingProxy = await startProxy(registry, {
      faults: (req) => {
        if (req.method !== 'GET' || !req.path.startsWith('/v2/team/cache/tags/list')) return undefined;
        const second = req.path.includes('last=index');
        return {
          kind: 'status',
          status: 200,
          headers: { 'content-type': 'application/json', ...(second ? {} : { link: '</v2/team/cache/tags/list?n=2&last=index>; rel="next"' }) },
          body: JSON.stringify({ name: 'team/cache', tags: second ? ['main', 'plain'] : ['docker', 'index'] }),
        };
      },
    });
    try {
      const out = await cli(env, 'tags', `${proxy.host}/team/cache`, '--json');
      assert.equal(out.code, 0, out.stderr);
      const result = JSON.parse(out.stdout) as RegistryTagsResult;
      assert.deepEqual(result.rows.map((r) => r.tag), ['docker', 'index', 'main', 'plain']);
      assert.equal(row(result, 'main').form, 'image-manifest');
      const pages = proxy.requests().filter((r) => r.path.includes('/tags/list')).map((r) => r.path);
      assert.deepEqual(pages, ['/v2/team/cache/tags/list', '/v2/team/cache/tags/list?n=2&last=index']);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a tag in the repository name, and a repository the registry does not have says so', async () => {
    const tagged = await cli(env, 'tags', `${registry.host}/team/cache:main`);
    assert.equal(tagged.code, 1);
    assert.match(tagged.stderr, /name a repository \(registry\/repo\), without a tag or digest/);
    const missing = await cli(env, 'tags', `${registry.host}/team/nothing`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NAME_UNKNOWN/);
  });
});
