import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CacheConfig, CacheRecord } from '../../../shared/cache/config-types';
import {
  marshalConfig,
  marshalDescriptor,
  marshalIndex,
  marshalInlineRecords,
  marshalLegacyConfig,
  marshalManifest,
  marshalOciLayout,
  marshalPatchedImageConfig,
  marshalPlatform,
} from '../../../shared/cache/serialize';
import { sortConfig } from '../../../shared/cache/sort-config';
import { compareGoStrings, goArray, goInt, goMap, goMarshal, GoMarshalError, goQuote, goRaw, goString, goStruct } from '../../../shared/json/go-json';
import type { ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { FIXTURES } from '../../helpers/fixtures';

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

// ---- every JSON document in the real fixtures ------------------------------------------------------

type Kind = 'index' | 'manifest' | 'config' | 'legacy-config' | 'inline-records' | 'image-config' | 'oci-layout';

interface FixtureJson {
  path: string;
  rel: string;
  bytes: Buffer;
  value: unknown;
  kind: Kind;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const p = join(dir, entry);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function classify(value: unknown): Kind | null {
  if (Array.isArray(value)) return 'inline-records';
  if (typeof value !== 'object' || value === null) return null;
  const o = value as Record<string, unknown>;
  if ('manifests' in o) return 'index';
  if ('schemaVersion' in o && 'config' in o) return 'manifest';
  if ('Items' in o) return 'legacy-config';
  if ('imageLayoutVersion' in o) return 'oci-layout';
  if ('rootfs' in o || 'architecture' in o) return 'image-config';
  if ('layers' in o || 'records' in o || Object.keys(o).length === 0) return 'config';
  return null;
}

/** Every file in the fixtures that is a JSON object or array (layer blobs are gzip and fail to parse). */
function fixtureJsonFiles(): FixtureJson[] {
  const out: FixtureJson[] = [];
  for (const path of walk(FIXTURES).sort()) {
    const bytes = readFileSync(path);
    if (bytes[0] !== 0x7b && bytes[0] !== 0x5b) continue; // not `{` or `[`: a layer, a text note
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue;
    }
    const kind = classify(value);
    assert.ok(kind, `unclassified fixture JSON ${path}`);
    out.push({ path, rel: relative(FIXTURES, path), bytes, value, kind });
  }
  return out;
}

function marshalAs(kind: Kind, value: unknown): string {
  switch (kind) {
    case 'index':
      return marshalIndex(value as ImageIndex);
    case 'manifest':
      return marshalManifest(value as ImageManifest);
    case 'config':
      return marshalConfig(value as CacheConfig);
    case 'legacy-config':
      return marshalLegacyConfig(value as never);
    case 'inline-records':
      return marshalInlineRecords(value as CacheRecord[]);
    case 'image-config':
      return marshalPatchedImageConfig(value as Record<string, unknown>);
    case 'oci-layout':
      return marshalOciLayout((value as { imageLayoutVersion: string }).imageLayoutVersion);
  }
}

const isBlob = (path: string) => path.split(sep).slice(-3, -1).join('/') === 'blobs/sha256';

describe('re-marshalling every real fixture', () => {
  const files = fixtureJsonFiles();

  it('finds the fixture JSON documents of every kind', () => {
    // Guards against a vacuous pass if the fixtures move: 29 documents at the time of writing.
    assert.ok(files.length >= 29, `only ${files.length} JSON files found under ${FIXTURES}`);
    const kinds = new Set(files.map((f) => f.kind));
    for (const k of ['index', 'manifest', 'config', 'inline-records', 'image-config', 'oci-layout'] as const) assert.ok(kinds.has(k), `no ${k} fixture`);
    assert.ok(files.filter((f) => isBlob(f.path) && f.kind === 'config').length >= 8, 'expected the configs of every layout, orphans included');
  });

  for (const f of files) {
    it(`${f.rel} (${f.kind}) comes back byte for byte`, () => {
      const text = marshalAs(f.kind, f.value);
      if (!Buffer.from(text, 'utf8').equals(f.bytes)) {
        const original = f.bytes.toString('utf8');
        let i = 0;
        while (i < text.length && text[i] === original[i]) i++;
        assert.fail(`differs at ${i}:\n  ours: …${text.slice(Math.max(0, i - 60), i + 60)}\n  file: …${original.slice(Math.max(0, i - 60), i + 60)}`);
      }
      if (isBlob(f.path)) {
        // Content addressing end to end: our bytes hash to the name BuildKit gave the blob.
        assert.equal(sha256(text), basename(f.path));
      }
    });
  }

  it('rebuilds the inline cache field: base64 of the re-marshalled records is the stored string', () => {
    const dir = join(FIXTURES, 'inline-cache-image-config-eksclustergames');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, string>;
    const decoded = readFileSync(join(dir, 'moby.buildkit.cache.v0.decoded.json'));
    assert.deepEqual(Buffer.from(config['moby.buildkit.cache.v0'], 'base64'), decoded);
    const records = JSON.parse(decoded.toString('utf8')) as CacheRecord[];
    assert.equal(Buffer.from(marshalInlineRecords(records)).toString('base64'), config['moby.buildkit.cache.v0']);
  });
});

// ---- Go string escaping ------------------------------------------------------------------------------

describe('goQuote: Go encoding/json string escaping', () => {
  it('escapes < > & as \\u003c \\u003e \\u0026 (json.Marshal default), and leaves them with escapeHTML false', () => {
    assert.equal(goQuote('<a href="x">&amp;</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026amp;\\u003c/a\\u003e"');
    assert.equal(goQuote('<&>', { escapeHTML: false }), '"<&>"');
  });

  it('escapes U+2028 and U+2029 always, even without HTML escaping', () => {
    assert.equal(goQuote('a\u2028b\u2029c'), '"a\\u2028b\\u2029c"');
    assert.equal(goQuote('\u2028', { escapeHTML: false }), '"\\u2028"');
  });

  it('writes \\n \\r \\t (and \\b \\f since Go 1.22) short, other controls as lowercase \\u00XX', () => {
    assert.equal(goQuote('\n\r\t'), '"\\n\\r\\t"');
    assert.equal(goQuote('\b\f'), '"\\b\\f"');
    assert.equal(goQuote('\b\f', { legacyControlEscapes: true }), '"\\u0008\\u000c"');
    assert.equal(goQuote('\u0000\u0001\u001b\u001f'), '"\\u0000\\u0001\\u001b\\u001f"');
  });

  it('escapes quote and backslash, and nothing else in ASCII (not / and not DEL)', () => {
    assert.equal(goQuote('"\\/'), '"\\"\\\\/"');
    assert.equal(goQuote('\u007f'), '"\u007f"');
    assert.equal(goQuote('sha256:8a5edab282632443219e051e4ade2d1d5bbc671c781051bf1437897cbdfea0f1'), '"sha256:8a5edab282632443219e051e4ade2d1d5bbc671c781051bf1437897cbdfea0f1"');
  });

  it('passes non-ASCII through as UTF-8, astral characters included', () => {
    assert.equal(goQuote('café 日本 😀 \uffff'), '"café 日本 😀 \uffff"');
  });

  it('writes a lone surrogate (invalid UTF-8 in Go) as \\ufffd', () => {
    assert.equal(goQuote('a\ud800b'), '"a\\ufffdb"');
    assert.equal(goQuote('\udc00'), '"\\ufffd"');
    assert.equal(goQuote('\udc00\ud800'), '"\\ufffd\\ufffd"');
    assert.equal(goQuote('x\ud83d'), '"x\\ufffd"');
  });

  it('property: valid strings survive JSON.parse, and no raw control, <, >, & or U+2028/9 is left', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const q = goQuote(s);
        assert.equal(JSON.parse(q), s);
        assert.doesNotMatch(q.slice(1, -1), /[\u0000-\u001f<>&\u2028\u2029]/);
      }),
      { numRuns: 500 },
    );
  });
});

describe('numbers', () => {
  it('writes integers as Go int64 does and refuses anything Go could not have written', () => {
    assert.equal(goMarshal(0, goInt), '0');
    assert.equal(goMarshal(-0, goInt), '0');
    assert.equal(goMarshal(-1, goInt), '-1');
    assert.equal(goMarshal(48386456, goInt), '48386456');
    assert.equal(goMarshal(2n ** 62n, goInt), '4611686018427387904');
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1', 2n ** 63n]) {
      assert.throws(() => goMarshal(bad, goInt), GoMarshalError, String(bad));
    }
    assert.throws(() => goMarshal({ a: 0.1 }, goRaw), GoMarshalError);
  });

  it('names the path of a bad value', () => {
    assert.throws(
      () => marshalConfig({ records: [{ digest: 'sha256:a', inputs: [[{ link: 'x' as unknown as number }]] }] }),
      (err: unknown) => err instanceof GoMarshalError && err.path === 'records[0].inputs[0][0].link',
    );
  });
});

// ---- struct order and omitempty -------------------------------------------------------------------

describe('omitempty and field order (format doc §4.1, §11)', () => {
  const T = '2026-05-19T05:13:39.09772643Z';

  it('omits parent 0, keeps -1 and other values', () => {
    assert.equal(
      marshalConfig({ layers: [{ blob: 'sha256:a', parent: 0 }, { blob: 'sha256:b', parent: -1 }, { blob: 'sha256:c', parent: 2 }, { blob: 'sha256:d' }] }),
      '{"layers":[{"blob":"sha256:a"},{"blob":"sha256:b","parent":-1},{"blob":"sha256:c","parent":2},{"blob":"sha256:d"}]}',
    );
  });

  it('omits an empty selector, always writes link (0 included) and result layer 0', () => {
    assert.equal(
      marshalConfig({ records: [{ layers: [{ layer: 0, createdAt: T }], digest: 'sha256:r', inputs: [[{ selector: '', link: 0 }, { selector: 'sha256:s', link: 0 }]] }] }),
      `{"records":[{"layers":[{"layer":0,"createdAt":"${T}"}],"digest":"sha256:r","inputs":[[{"link":0},{"selector":"sha256:s","link":0}]]}]}`,
    );
  });

  it('omits empty layers/records/inputs/chains arrays and empty digests, in struct order', () => {
    assert.equal(marshalConfig({}), '{}');
    assert.equal(marshalConfig({ layers: [], records: [] }), '{}');
    assert.equal(marshalConfig({ records: [{ inputs: [], layers: [], chains: [], digest: 'sha256:r' }] }), '{"records":[{"digest":"sha256:r"}]}');
    assert.equal(marshalConfig({ records: [{ digest: '' }] }), '{"records":[{}]}');
    // Keys come out in Go struct order whatever order the JS object has.
    const rec = { inputs: [[{ link: 1, selector: 'sha256:s' }]], digest: 'sha256:r', chains: [{ createdAt: T, layers: [1, 0] }], layers: [{ createdAt: T, layer: 3 }] };
    assert.equal(
      marshalConfig({ records: [rec], layers: [{ parent: 1, blob: 'sha256:b' }] }),
      `{"layers":[{"blob":"sha256:b","parent":1}],"records":[{"layers":[{"layer":3,"createdAt":"${T}"}],"chains":[{"layers":[1,0],"createdAt":"${T}"}],"digest":"sha256:r","inputs":[[{"selector":"sha256:s","link":1}]]}]}`,
    );
  });

  it('writes a missing createdAt as Go zero time, a nil inner slice as null', () => {
    assert.equal(
      marshalConfig({ records: [{ layers: [{ layer: 1 } as never], inputs: [null as never] }] }),
      '{"records":[{"layers":[{"layer":1,"createdAt":"0001-01-01T00:00:00Z"}],"inputs":[null]}]}',
    );
  });

  it('writes gha/s3 layer annotations with size omitempty and createdAt always', () => {
    assert.equal(
      marshalConfig({ layers: [{ blob: 'sha256:b', parent: -1, annotations: { createdAt: T, size: 0, diffID: 'sha256:d', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' } }] }),
      `{"layers":[{"blob":"sha256:b","parent":-1,"annotations":{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","diffID":"sha256:d","createdAt":"${T}"}}]}`,
    );
    assert.equal(marshalConfig({ layers: [{ blob: 'sha256:b', annotations: { createdAt: T, size: 12 } }] }), `{"layers":[{"blob":"sha256:b","annotations":{"size":12,"createdAt":"${T}"}}]}`);
  });

  it('keeps a null manifest layers list as null (v0.12 empty export) and an empty one as []', () => {
    const config = { mediaType: 'application/vnd.buildkit.cacheconfig.v0', digest: 'sha256:c', size: 2 };
    assert.equal(
      marshalManifest({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: null }),
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"sha256:c","size":2},"layers":null}',
    );
    assert.match(marshalManifest({ schemaVersion: 2, config, layers: [] }), /^\{"schemaVersion":2,"config":\{[^}]*\},"layers":\[\]\}$/);
    assert.equal(
      marshalManifest({ schemaVersion: 2, config, layers: [], annotations: { b: '2', a: '1' }, subject: config, artifactType: 'x/y' }),
      '{"schemaVersion":2,"artifactType":"x/y","config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"sha256:c","size":2},"layers":[],"subject":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"sha256:c","size":2},"annotations":{"a":"1","b":"2"}}',
    );
  });

  it('writes index.json without mediaType when it has none (pre-v0.14), and manifests:null when nil', () => {
    assert.equal(marshalIndex({ schemaVersion: 2, manifests: [] }), '{"schemaVersion":2,"manifests":[]}');
    assert.equal(marshalIndex({ schemaVersion: 2 } as ImageIndex), '{"schemaVersion":2,"manifests":null}');
  });

  it('writes descriptors in image-spec order with every optional field', () => {
    assert.equal(
      marshalDescriptor({
        platform: { variant: 'v8', os: 'linux', architecture: 'arm64', 'os.features': ['f'], 'os.version': '1' },
        artifactType: 'a/b',
        data: 'e30=',
        annotations: { z: '1' },
        urls: ['https://x/<y>'],
        size: 0,
        digest: 'sha256:d',
        mediaType: '',
      }),
      '{"mediaType":"","digest":"sha256:d","size":0,"urls":["https://x/\\u003cy\\u003e"],"annotations":{"z":"1"},"data":"e30=","platform":{"architecture":"arm64","os":"linux","os.version":"1","os.features":["f"],"variant":"v8"},"artifactType":"a/b"}',
    );
    assert.equal(marshalPlatform({ architecture: 'amd64', os: 'linux', 'os.features': [] }), '{"architecture":"amd64","os":"linux"}');
  });

  it('writes the 2017 legacy config with capitalised keys and no omitempty', () => {
    assert.equal(
      marshalLegacyConfig({ Items: [{ Blobsum: 'sha256:b', CacheKey: 'sha256:k', ContentKey: '', Parent: '', DiffID: 'sha256:d' }] }),
      '{"Items":[{"Blobsum":"sha256:b","CacheKey":"sha256:k","ContentKey":"","Parent":"","DiffID":"sha256:d"}]}',
    );
    assert.equal(marshalLegacyConfig({} as never), '{"Items":null}');
  });

  it('writes oci-layout without a newline', () => {
    assert.equal(marshalOciLayout(), '{"imageLayoutVersion":"1.0.0"}');
  });
});

describe('map keys', () => {
  it('sorts annotation keys by bytes, as Go does', () => {
    assert.equal(
      goMarshal({ 'containerd.io/uncompressed': 'u', 'buildkit/createdat': 't', Zeta: 'z', a: 'a', 'a/b': 'ab', 'a.b': 'a.b' }, goMap(goString)),
      '{"Zeta":"z","a":"a","a.b":"a.b","a/b":"ab","buildkit/createdat":"t","containerd.io/uncompressed":"u"}',
    );
  });

  it('orders astral characters after U+E000-U+FFFF (UTF-8 order, not UTF-16 order)', () => {
    const keys = { '😀': 1, '\uff21': 2, z: 3, é: 4 };
    // JS's default sort would put 😀 (0xD83D…) before U+FF21.
    assert.equal(goMarshal(keys, goMap(goInt)), '{"z":3,"é":4,"Ａ":2,"😀":1}');
    assert.ok(compareGoStrings('\uff21', '😀') < 0);
    assert.ok(compareGoStrings('a😀b', 'a😀c') < 0);
    assert.ok(compareGoStrings('a😀', 'a😁') < 0);
    assert.ok(compareGoStrings('ab', 'a') > 0);
    assert.equal(compareGoStrings('x', 'x'), 0);
  });

  it('property: compareGoStrings agrees with comparing UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }), (a, b) => {
        const want = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        assert.equal(Math.sign(compareGoStrings(a, b)), want);
      }),
      { numRuns: 1000 },
    );
  });

  it('writes nil maps as null, and a patched image config with sorted top-level keys and raw values', () => {
    assert.equal(goMarshal(undefined, goMap(goString)), 'null');
    assert.equal(marshalPatchedImageConfig({ rootfs: { type: 'layers', diff_ids: [] }, architecture: 'amd64', config: { Env: ['A=<1>'], ArgsEscaped: true, x: null } }), '{"architecture":"amd64","config":{"Env":["A=\\u003c1\\u003e"],"ArgsEscaped":true,"x":null},"rootfs":{"type":"layers","diff_ids":[]}}');
  });

  it('lets a schema describe other Go structs (goStruct + goArray)', () => {
    const schema = goStruct([
      ['name', goString],
      ['tags', goArray(goString), true],
      ['count', goInt, true],
    ]);
    assert.equal(goMarshal({ count: 0, name: 'n', tags: [] }, schema), '{"name":"n"}');
    assert.equal(goMarshal({}, schema), '{"name":""}');
  });
});

// ---- sortConfig -------------------------------------------------------------------------------------

/** The blob list (base first) of the chain ending at layer `index`. */
function chainBlobs(config: CacheConfig, index: number): string[] {
  const out: string[] = [];
  for (let i = index, guard = 0; i !== -1; guard++) {
    assert.ok(guard <= (config.layers ?? []).length, 'looping layer chain');
    const l = config.layers![i];
    out.push(l.blob!);
    i = l.parent ?? 0;
  }
  return out.reverse();
}

/** A record described by digests only, so it can be compared across index permutations. */
function recordSignature(config: CacheConfig, r: CacheRecord): string {
  const records = config.records ?? [];
  const inputs = (r.inputs ?? []).map((slot) => slot.map((i) => `${i.selector ?? ''}>${records[i.link].digest}`).sort().join('|'));
  const results = (r.layers ?? []).map((res) => `${chainBlobs(config, res.layer).join(',')}@${res.createdAt}`);
  return `${r.digest}[${inputs.join(';')}]{${results.join(';')}}`;
}

function hasRepeatedBlob(config: CacheConfig): boolean {
  const blobs = (config.layers ?? []).map((l) => l.blob);
  return new Set(blobs).size !== blobs.length;
}

describe('sortConfig (format doc §4.5)', () => {
  const configs = fixtureJsonFiles().filter((f) => f.kind === 'config');

  for (const f of configs) {
    it(`leaves the already-sorted fixture ${f.rel} as BuildKit wrote it`, () => {
      const config = f.value as CacheConfig;
      const sorted = sortConfig(config);
      if (!hasRepeatedBlob(config)) {
        assert.equal(marshalConfig(sorted), f.bytes.toString('utf8'));
        return;
      }
      // Layers that share a blob (dto-pattern: the empty layer 4f4fb700… at 4 positions) were ordered
      // by their parent index *before* BuildKit's sort, which the file no longer holds. Sorting again
      // orders them by their final parents instead, so only the weaker property holds: the same blob
      // sequence, the same records in the same order, and every result resolving to the same chain.
      assert.deepEqual(
        sorted.layers!.map((l) => l.blob),
        config.layers!.map((l) => l.blob),
      );
      assert.deepEqual(
        sorted.records!.map((r) => recordSignature(sorted, r)),
        config.records!.map((r) => recordSignature(config, r)),
      );
      assert.deepEqual(
        sorted.layers!.map((_, i) => chainBlobs(sorted, i).join(',')).sort(),
        config.layers!.map((_, i) => chainBlobs(config, i).join(',')).sort(),
      );
    });
  }

  const T = '2026-01-01T00:00:00Z';
  const D = (n: number) => `sha256:${String(n).repeat(64)}`;

  it('sorts layers by (blob, old parent) and remaps parents: same-blob entries need not follow their final parents', () => {
    const config: CacheConfig = {
      layers: [
        { blob: 'sha256:c', parent: -1 },
        { blob: 'sha256:a' }, // parent 0
        { blob: 'sha256:b', parent: 1 },
        { blob: 'sha256:a', parent: 2 },
      ],
    };
    const before = structuredClone(config);
    const sorted = sortConfig(config);
    assert.deepEqual(config, before, 'the input is not modified');
    // New order: old 1, old 3, old 2, old 0. Parents: old0→3, old2→2, old1→0, -1 stays.
    assert.equal(marshalConfig(sorted), '{"layers":[{"blob":"sha256:a","parent":3},{"blob":"sha256:a","parent":2},{"blob":"sha256:b"},{"blob":"sha256:c","parent":-1}]}');
  });

  it('sorts records by digest, slot count, link count, selector, linked digest; remaps links, results, not chains', () => {
    const config: CacheConfig = {
      layers: [
        { blob: 'sha256:b', parent: 1 },
        { blob: 'sha256:a', parent: -1 },
      ],
      records: [
        /* 0 */ { digest: D(3) },
        /* 1 */ { layers: [{ layer: 0, createdAt: T }], chains: [{ layers: [0, 1], createdAt: T }], digest: D(1), inputs: [[{ link: 0 }]] },
        /* 2 */ { digest: D(1), inputs: [[{ link: 4 }]] },
        /* 3 */ { digest: D(2), inputs: [[{ link: 0 }, { selector: 'sha256:s', link: 4 }], [{ link: 1 }]] },
        /* 4 */ { digest: D(0) },
        /* 5 */ { digest: D(1) },
        /* 6 */ { digest: D(2), inputs: [[{ link: 0 }]] },
        /* 7 */ { digest: D(4), inputs: [[{ selector: 'sha256:bb', link: 0 }]] },
        /* 8 */ { digest: D(4), inputs: [[{ selector: 'sha256:aa', link: 0 }]] },
        /* 9 */ { digest: D(4), inputs: [[{ link: 0 }]] },
        /* 10 */ { digest: D(5), inputs: [[{ link: 0 }, { link: 4 }]] },
        /* 11 */ { digest: D(5), inputs: [[{ link: 0 }]] },
        /* 12 */ { layers: [{ layer: 1, createdAt: 'first' }], digest: D(6), inputs: [[{ link: 4 }]] },
        /* 13 */ { layers: [{ layer: 1, createdAt: 'second' }], digest: D(6), inputs: [[{ link: 4 }]] },
      ],
    };
    const sorted = sortConfig(config);
    // Layers: a (old 1) then b (old 0); b's parent 1 → 0.
    assert.deepEqual(sorted.layers, [{ blob: 'sha256:a', parent: -1 }, { blob: 'sha256:b' }]);
    // New record order by old index.
    const order = [4, 5, 2, 1, 6, 3, 0, 9, 8, 7, 11, 10, 12, 13];
    const newIndex = new Map(order.map((old, i) => [old, i]));
    assert.deepEqual(
      sorted.records!.map((r) => r.digest),
      order.map((old) => config.records![old].digest),
    );
    const r = sorted.records!;
    assert.deepEqual(r[newIndex.get(1)!], {
      layers: [{ layer: 1, createdAt: T }], // result layer remapped (old 0 → new 1)
      chains: [{ layers: [0, 1], createdAt: T }], // chains left alone, as BuildKit does
      digest: D(1),
      inputs: [[{ link: 6 }]],
    });
    assert.deepEqual(r[newIndex.get(2)!].inputs, [[{ link: 0 }]]);
    // Links inside a slot sorted by their new index: old 4 (now 0) before old 0 (now 6).
    assert.deepEqual(r[newIndex.get(3)!].inputs, [[{ selector: 'sha256:s', link: 0 }, { link: 6 }], [{ link: 3 }]]);
    // Exact ties keep their input order (stable).
    assert.equal(r[12].layers![0].createdAt, 'first');
    assert.equal(r[13].layers![0].createdAt, 'second');
    assert.ok(marshalConfig(sorted).startsWith(`{"layers":[{"blob":"sha256:a","parent":-1},{"blob":"sha256:b"}],"records":[{"digest":"${D(0)}"},{"digest":"${D(1)}"},`));
  });

  it('refuses references out of range instead of writing a broken config', () => {
    assert.throws(() => sortConfig({ layers: [{ blob: 'sha256:a', parent: 3 }] }), RangeError);
    assert.throws(() => sortConfig({ records: [{ digest: D(1), inputs: [[{ link: 9 }]] }] }), RangeError);
    assert.throws(() => sortConfig({ layers: [], records: [{ layers: [{ layer: 0, createdAt: T }] }] }), RangeError);
  });

  it('property: any shuffled config sorts to the same graph, with blobs and record keys in order', () => {
    const arbConfig = fc
      .record({
        blobs: fc.array(fc.constantFrom('sha256:a', 'sha256:b', 'sha256:c', 'sha256:d'), { minLength: 1, maxLength: 8 }),
        digests: fc.array(fc.constantFrom(D(1), D(2), D(3), D(4)), { minLength: 1, maxLength: 12 }),
        seed: fc.integer(),
      })
      .map(({ blobs, digests, seed }) => {
        let x = seed >>> 0 || 1;
        const rnd = (n: number) => {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          return (x >>> 0) % n;
        };
        // Layers and records built in dependency order (parents and links point backwards), then shuffled.
        const layers = blobs.map((blob, i) => ({ blob, parent: i === 0 || rnd(3) === 0 ? -1 : rnd(i) }));
        const records: CacheRecord[] = digests.map((digest, i) => {
          const r: CacheRecord = { digest };
          if (i > 0 && rnd(3) > 0) r.inputs = Array.from({ length: 1 + rnd(2) }, () => Array.from({ length: 1 + rnd(2) }, () => (rnd(2) ? { link: rnd(i) } : { selector: 'sha256:s', link: rnd(i) })));
          if (rnd(2)) r.layers = [{ layer: rnd(layers.length), createdAt: T }];
          return r;
        });
        const perm = (n: number) => {
          const p = Array.from({ length: n }, (_, i) => i);
          for (let i = n - 1; i > 0; i--) {
            const j = rnd(i + 1);
            [p[i], p[j]] = [p[j], p[i]];
          }
          return p;
        };
        const lp = perm(layers.length);
        const lInv = new Map(lp.map((old, i) => [old, i]));
        const rp = perm(records.length);
        const rInv = new Map(rp.map((old, i) => [old, i]));
        return {
          layers: lp.map((old) => {
            const l = layers[old];
            return { blob: l.blob, parent: l.parent === -1 ? -1 : lInv.get(l.parent)! };
          }),
          records: rp.map((old) => {
            const r = records[old];
            return {
              ...r,
              inputs: r.inputs?.map((slot) => slot.map((i) => ({ ...i, link: rInv.get(i.link)! }))),
              layers: r.layers?.map((res) => ({ ...res, layer: lInv.get(res.layer)! })),
            };
          }),
        } satisfies CacheConfig;
      });
    fc.assert(
      fc.property(arbConfig, (config) => {
        const sorted = sortConfig(config);
        const blobs = sorted.layers!.map((l) => l.blob!);
        assert.deepEqual(blobs, [...blobs].sort(compareGoStrings));
        const digests = sorted.records!.map((r) => r.digest!);
        assert.deepEqual(digests, [...digests].sort(compareGoStrings));
        for (const r of sorted.records!) for (const slot of r.inputs ?? []) assert.deepEqual(slot.map((i) => i.link), slot.map((i) => i.link).sort((a, b) => a - b));
        assert.deepEqual(sorted.records!.map((r) => recordSignature(sorted, r)).sort(), config.records.map((r) => recordSignature(config, r)).sort());
        assert.deepEqual(sorted.layers!.map((_, i) => chainBlobs(sorted, i).join(',')).sort(), config.layers.map((_, i) => chainBlobs(config, i).join(',')).sort());
      }),
      { numRuns: 300 },
    );
  });
});
