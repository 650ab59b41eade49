/**
 * Writes a real, BuildKit-shaped local cache export (an OCI layout as `--cache-to type=local` leaves it)
 * for the demo cache, tests and benchmarks. Nothing here is random at run time: the same options give
 * the same bytes.
 *
 * What it reproduces, and where BuildKit does it (see shared/docs/buildkit-cache-format.md):
 *   - layer blobs are compressed ustar archives; the diffID is the sha256 of the tar (§3);
 *   - the v0 config is built the way `CacheChains.Marshal` builds it (dependencies before dependents,
 *     layer chains shared by `blob + parent chain`, base layers first), then put through `sortConfig`
 *     and Go-compatible JSON (§4.5, §11), so parents point forward and records sort by digest;
 *   - records: digest-only roots (base image, build context, content checksums `sha256("<sum>@-1")`),
 *     ops with one and two input slots, the content-based COPY pattern (a checksum root linked without
 *     selector plus the definition key linked with a selector, in the same slot), `sha256("/")` selector
 *     links, duplicate record digests (the same op over an older base image), one result per op
 *     record (mode=max), the 32-byte empty gzip layer at several chain positions (§13);
 *   - the manifest lists one descriptor per config layer entry, in config order, duplicates included,
 *     annotated with `buildkit/createdat` and `containerd.io/uncompressed` (§5);
 *   - index.json is updated the way the buildctl client does it (the old entry with the same tag is
 *     replaced, other entries kept, old blobs never deleted), plus `oci-layout` (§6).
 *
 * Large caches are streamed layer by layer (tar → compressor → hash → file) on several layers at once,
 * so memory stays flat; records beyond the build's own (`records`) are cheap digest-only or
 * intermediate keys, so 100k-record configs need no blob data.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CompressStream, compress as zstdCompress } from 'zstd-napi';
import type { CacheConfig, CacheInput, CacheLayer, CacheRecord } from '../../shared/cache/config-types';
import { marshalConfig, marshalIndex, marshalManifest, marshalOciLayout } from '../../shared/cache/serialize';
import { sortConfig } from '../../shared/cache/sort-config';
import { Annotation, MediaType, layerMediaType } from '../../shared/oci/media-types';
import type { Descriptor, ImageIndex, ImageManifest } from '../../shared/oci/types';
import { tarEnd, tarHeader, tarPadding, TAR_BLOCK } from './tar';
import type { TarEntry } from './tar';

export type GenCompression = 'gzip' | 'zstd' | 'uncompressed';
export type GenForm = 'image-manifest' | 'index';

export interface GenerateOptions {
  /** Everything (structure, content, timestamps) derives from this. */
  seed: number | string;
  /** Build stages (Dockerfile `FROM … AS …` blocks), each a chain of ops on the base image. */
  stages: number;
  /** Ops (layer entries) per stage; ignored when `layers` is given. */
  layersPerStage: number;
  /** Approximate bytes of file content in each non-empty layer. */
  layerBytes: number;
  compression: GenCompression;
  form: GenForm;
  /** The index.json tag (`org.opencontainers.image.ref.name`). Default `latest`. */
  tag?: string;
  /** Two platforms (linux/amd64, linux/arm64) in one config, as a multi-platform build exports. */
  multiPlatform?: boolean;
  /** Total records: the build's own plus digest-only/intermediate keys up to this count. */
  records?: number;
  /** Total layer entries (base layers included), spread over the stages (and platforms). */
  layers?: number;
  /** false: write only the JSON (manifest, config, index.json), like fixtures whose layers are missing. */
  withBlobs: boolean;
  /** Layers of the base image under every stage. Default 1. */
  baseLayers?: number;
  /**
   * A later build of the same project: the build context changed `revision` times, so every COPY from
   * the context, and everything built on it, gets new content and timestamps; ops before it keep their
   * blobs and times (a cache hit), exactly what a diff between two generations should show.
   */
  revision?: number;
  /** Docker media types (manifest list variant only, like `oci-mediatypes=false`). Default true (OCI). */
  ociMediaTypes?: boolean;
  /** gzip 1-9 (default 6, Go's default) or zstd 1-22 (default 3). */
  compressionLevel?: number;
  /** Time of the first op, RFC 3339 (UTC, `Z`). Default: a fixed day in 2026 picked by the seed. */
  startTime?: string;
  /** Layers produced at once. Default: the number of CPUs, at least 2. */
  concurrency?: number;
}

export interface GeneratedCache {
  dir: string;
  /** The cache manifest's descriptor, as index.json refers to it (without the tag annotation). */
  manifestDescriptor: Descriptor;
  manifest: ImageManifest | ImageIndex;
  manifestJson: string;
  configDescriptor: Descriptor;
  config: CacheConfig;
  configJson: string;
  /** One per config layer entry, config order. */
  layerDescriptors: Descriptor[];
  /** Distinct layer blobs written by this call (0 when withBlobs is false). */
  blobsWritten: number;
  /** Bytes of those layer blobs. */
  blobBytes: number;
}

/** The 32-byte gzip of an empty tar (1024 zero bytes) as Go's compress/gzip writes it: BuildKit's empty layer. */
export const EMPTY_LAYER_GZIP = Buffer.from('1f8b08000000000000ff621805a360148c5800080000ffff2eafb5ef00040000', 'hex');
export const EMPTY_LAYER_GZIP_DIGEST = 'sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1';
/** sha256 of 1024 zero bytes: the diffID of every empty layer. */
export const EMPTY_TAR_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/** sha256("/"), the selector of `COPY . .` and of whole-output dependencies. */
const SELECTOR_ROOT = sha256Digest('/');
const CONTEXT_SELECTORS = [SELECTOR_ROOT, sha256Digest('/package.json\0/package-lock.json'), sha256Digest('/src'), sha256Digest('/go.mod\0/go.sum')];
const CHUNK = 1 << 20;
/** AES-CTR input: encrypting zeros yields the bare keystream. Shared, never written to. */
const ZERO_CHUNK = Buffer.alloc(CHUNK);
const MAX_FILE = 4 << 20;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: string | Uint8Array): string {
  return `sha256:${sha256Hex(data)}`;
}

/** BuildKit's outputKey / rootKey: sha256("<digest>@<output index>"). */
function outputKey(vertexDigest: string, index: number): string {
  return sha256Digest(`${vertexDigest}@${index}`);
}

/** Go's time.Time.MarshalText for a UTC time: RFC 3339 with 0-9 fraction digits, trailing zeros dropped. */
export function formatRfc3339Nano(nanos: bigint): string {
  const seconds = nanos / 1_000_000_000n;
  const frac = nanos % 1_000_000_000n;
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const digits = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${base}${digits}Z`;
}

function parseStartTime(text: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!m) throw new RangeError(`startTime must be RFC 3339 in UTC (…Z), got ${JSON.stringify(text)}`);
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** sfc32: small, fast, and seeded from sha256 so any seed text gives a well-mixed state. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seedText: string) {
    const h = createHash('sha256').update(seedText).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12);
    for (let i = 0; i < 12; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }
  /** [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

// ---- the build plan --------------------------------------------------------------------------------

type OpKind = 'run' | 'run-selector' | 'workdir' | 'copy' | 'copy-from';

interface FileSpec {
  path: string;
  size: number;
  text: boolean;
}

interface LayerSpec {
  /** Content identity: equal ids are the same blob. */
  id: string;
  empty: boolean;
  createdNs: bigint;
  /** Directories, then files, in archive order. */
  dirs: string[];
  files: FileSpec[];
}

interface BlobInfo {
  digest: string;
  size: number;
  diffID: string;
}

/** Which op a stage runs at position k: a template cut to the stage's length (see the file comment). */
function opKind(stage: number, k: number, opsInStage: number, lastStage: boolean, stages: number): OpKind {
  if (lastStage && stages > 1 && k === opsInStage - 1) return 'copy-from';
  if (k === 0) return 'run';
  const evenStage = stage % 2 === 0;
  if (evenStage && k === 1) return 'workdir';
  const j = k - (evenStage ? 2 : 1);
  return j % 2 === 0 ? 'copy' : 'run-selector';
}

function layerFiles(kind: OpKind | 'base', platform: number, stage: number, k: number, bytes: number): Pick<LayerSpec, 'dirs' | 'files'> {
  const textSize = Math.max(1, Math.min(bytes, Math.max(64, Math.min(4096, Math.floor(bytes / 8)))));
  let rest = Math.max(0, bytes - textSize);
  let dirs: string[];
  let textPath: string;
  let binDir: string;
  switch (kind) {
    case 'base':
      dirs = ['etc/', 'usr/', 'usr/lib/'];
      textPath = k === 0 ? 'etc/os-release' : `etc/base-${k}.conf`;
      binDir = 'usr/lib/';
      break;
    case 'copy':
      dirs = ['app/', 'app/src/', 'app/assets/'];
      textPath = `app/src/module-${stage}-${k}.js`;
      binDir = 'app/assets/';
      break;
    case 'copy-from':
      dirs = ['app/', 'app/bin/'];
      textPath = `app/bin/BUILD-INFO-${stage}.txt`;
      binDir = 'app/bin/';
      break;
    default:
      dirs = ['usr/', 'usr/local/', `usr/local/lib/`, `usr/local/lib/step-${stage}-${k}/`];
      textPath = `usr/local/lib/step-${stage}-${k}/README.txt`;
      binDir = `usr/local/lib/step-${stage}-${k}/`;
  }
  const files: FileSpec[] = [{ path: textPath, size: textSize, text: true }];
  for (let n = 0; rest > 0; n++) {
    const size = Math.min(rest, MAX_FILE);
    files.push({ path: `${binDir}${kind === 'base' ? `libbase-${platform}-${k}` : 'data'}-${n}.bin`, size, text: false });
    rest -= size;
  }
  return { dirs, files };
}

interface Plan {
  layerSpecs: Map<string, LayerSpec>;
  /** Pre-sort chain entries (blob = layer spec id until blobs are known). */
  chain: Array<{ specId: string; parent: number }>;
  records: CacheRecord[];
}

function planBuild(opts: GenerateOptions, seedText: string): Plan {
  const platforms = opts.multiPlatform ? ['linux/amd64', 'linux/arm64'] : ['linux/amd64'];
  const baseLayers = opts.baseLayers ?? 1;
  const revision = opts.revision ?? 0;
  const stages = opts.stages;
  if (!Number.isInteger(stages) || stages < 1) throw new RangeError('stages must be an integer ≥ 1');
  if (!Number.isInteger(baseLayers) || baseLayers < 1) throw new RangeError('baseLayers must be an integer ≥ 1');

  // Ops per (platform, stage): layersPerStage, or `layers` spread round-robin.
  const slots = platforms.length * stages;
  const opsPerSlot: number[] = [];
  if (opts.layers !== undefined) {
    const ops = opts.layers - platforms.length * baseLayers;
    if (!Number.isInteger(opts.layers) || ops < 1) {
      throw new RangeError(`layers must be at least ${platforms.length * baseLayers + 1} (base layers of each platform plus one op)`);
    }
    for (let i = 0; i < slots; i++) opsPerSlot.push(Math.floor(ops / slots) + (i < ops % slots ? 1 : 0));
  } else {
    if (!Number.isInteger(opts.layersPerStage) || opts.layersPerStage < 0) throw new RangeError('layersPerStage must be an integer ≥ 0');
    for (let i = 0; i < slots; i++) opsPerSlot.push(opts.layersPerStage);
  }

  const t0 = opts.startTime !== undefined ? parseStartTime(opts.startTime) : defaultStart(seedText);
  const layerSpecs = new Map<string, LayerSpec>();
  const chain: Plan['chain'] = [];
  const chainIndex = new Map<string, number>();
  const records: CacheRecord[] = [];
  const rootIndex = new Map<string, number>();

  const addRecord = (r: CacheRecord): number => {
    records.push(r);
    return records.length - 1;
  };
  // Roots with the same digest are one record (BuildKit merges them at insertion, §4.5).
  const addRoot = (digest: string): number => {
    const known = rootIndex.get(digest);
    if (known !== undefined) return known;
    const i = addRecord({ digest });
    rootIndex.set(digest, i);
    return i;
  };
  // marshalRemote: a chain entry is identified by its blob plus its parent chain, base first.
  const addChain = (specIds: string[]): number => {
    let parent = -1;
    let id = '';
    for (const specId of specIds) {
      id = `${specId}>${id}`;
      let index = chainIndex.get(id);
      if (index === undefined) {
        index = chain.length;
        chain.push({ specId, parent });
        chainIndex.set(id, index);
      }
      parent = index;
    }
    return parent;
  };
  const jitter = (key: string, maxNs: number): bigint => BigInt(new Rng(`${seedText}|time|${key}`).int(maxNs));
  // Layers vary between 0.6× and 1.4× layerBytes, so sizes differ as in real caches while the total
  // stays close to layers × layerBytes.
  const layerSize = (key: string): number => Math.max(1, Math.round(opts.layerBytes * (0.6 + 0.8 * new Rng(`${seedText}|size|${key}`).next())));

  const contextRecord = addRoot(outputKey(sha256Digest(`local://context|${seedText}`), 0));

  platforms.forEach((platform, p) => {
    const baseVertex = sha256Digest(`docker-image://docker.io/library/alpine:3.20|${platform}|${seedText}`);
    const baseRecord = addRoot(outputKey(baseVertex, 0));
    const oldBaseRecord = stages > 1 ? addRoot(outputKey(sha256Digest(`docker-image://docker.io/library/alpine:3.19|${platform}|${seedText}`), 0)) : -1;
    const baseIds: string[] = [];
    for (let i = 0; i < baseLayers; i++) {
      const id = `base|${p}|${i}`;
      // The base image was pulled (its snapshots created) a few minutes before the build.
      const createdNs = t0 - 600_000_000_000n + BigInt(i) * 1_500_000_000n + jitter(id, 999_999_999);
      layerSpecs.set(id, { id, empty: false, createdNs, ...layerFiles('base', p, 0, i, layerSize(id)) });
      baseIds.push(id);
    }

    const stageTip: number[] = [];
    const stageDirty: boolean[] = [];
    for (let s = 0; s < stages; s++) {
      const ops = opsPerSlot[p * stages + s];
      const specIds = [...baseIds];
      let prev = baseRecord;
      let dirty = false;
      for (let k = 0; k < ops; k++) {
        const kind = opKind(s, k, ops, s === stages - 1, stages);
        const source = s - 1; // COPY --from copies the previous stage's result
        if (kind === 'copy' && revision > 0) dirty = true;
        if (kind === 'copy-from' && stageDirty[source]) dirty = true;
        const rev = dirty ? revision : 0;
        const opName = `${p}|${s}|${k}|${kind}`;
        const vertex = sha256Digest(`op|${opName}|${seedText}`);

        let specId: string;
        if (kind === 'workdir') {
          specId = 'empty';
        } else {
          specId = `${opName}|r${rev}`;
        }
        // Ops are ~2 s apart; a rebuilt op (dirty) happened `revision` × 2 h later. A cache hit keeps its time.
        const opNs = t0 + BigInt((p * stages + s) * 100 + k) * 2_000_000_000n + BigInt(rev) * 7_200_000_000_000n + jitter(`${opName}|r${rev}`, 999_999_999);
        const existing = layerSpecs.get(specId);
        if (kind === 'workdir') {
          layerSpecs.set(specId, { id: specId, empty: true, createdNs: opNs, dirs: [], files: [] });
        } else if (!existing) {
          layerSpecs.set(specId, { id: specId, empty: false, createdNs: opNs, ...layerFiles(kind, p, s, k, layerSize(specId)) });
        }
        specIds.push(specId);
        const tip = addChain(specIds);

        let inputs: CacheInput[][];
        switch (kind) {
          case 'run':
          case 'workdir':
            inputs = [[{ link: prev }]];
            break;
          case 'run-selector':
            inputs = [[{ selector: SELECTOR_ROOT, link: prev }]];
            break;
          case 'copy': {
            const selector = CONTEXT_SELECTORS[(s + k) % CONTEXT_SELECTORS.length];
            // The content checksum of the selected context paths; shared by every COPY of the same paths.
            const checksum = sha256Digest(`context-content|${selector}|r${revision}|${seedText}`);
            const checksumRecord = addRoot(sha256Digest(`${checksum}@-1`));
            inputs = [[{ link: prev }], [{ link: checksumRecord }, { selector, link: contextRecord }]];
            break;
          }
          case 'copy-from': {
            const selector = sha256Digest(`/out/stage-${source}`);
            const from = stageTip[source] ?? baseRecord;
            const checksum = sha256Digest(`stage-content|${p}|${source}|${selector}|r${stageDirty[source] ? revision : 0}|${seedText}`);
            const checksumRecord = addRoot(sha256Digest(`${checksum}@-1`));
            inputs = [[{ link: prev }], [{ link: checksumRecord }, { selector, link: from }]];
            break;
          }
        }
        const resultNs = (layerSpecs.get(specId)?.createdNs ?? opNs) + 5_000_000n + jitter(`${opName}|result|r${rev}`, 30_000_000);
        const record = addRecord({
          layers: [{ layer: tip, createdAt: formatRfc3339Nano(kind === 'workdir' ? opNs + 5_000_000n : resultNs) }],
          digest: outputKey(vertex, 0),
          inputs,
        });
        // The same first op over an older base image: the same key digest with other inputs, as
        // BuildKit's backlinks leave in real configs (§13, duplicate record digests).
        if (k === 0 && s >= 1 && oldBaseRecord >= 0) addRecord({ digest: outputKey(vertex, 0), inputs: [[{ link: oldBaseRecord }]] });
        prev = record;
      }
      stageTip.push(ops > 0 ? prev : baseRecord);
      stageDirty.push(dirty);
    }
  });

  if (opts.records !== undefined) addExtraRecords(records, opts.records, seedText);
  return { layerSpecs, chain, records };
}

function defaultStart(seedText: string): bigint {
  const rng = new Rng(`${seedText}|start`);
  const day = BigInt(Date.UTC(2026, 0, 5, 9, 0, 0)) * 1_000_000n;
  return day + BigInt(rng.int(30 * 86_400)) * 1_000_000_000n + BigInt(rng.int(1_000_000_000));
}

/**
 * Pads the graph to `target` records with keys that carry no result, like the intermediate keys of a
 * big mode=max export: 15 % digest-only roots, the rest with one or two input slots of one to four
 * links to earlier records (so no loops), some through selectors, a few sharing a digest.
 */
function addExtraRecords(records: CacheRecord[], target: number, seedText: string): void {
  const natural = records.length;
  if (!Number.isInteger(target) || target < natural) throw new RangeError(`records must be at least ${natural} for this build shape (got ${target})`);
  const rng = new Rng(`${seedText}|extra-records`);
  const selectors = [SELECTOR_ROOT, ...Array.from({ length: 7 }, (_, i) => sha256Digest(`/extra/paths-${i}`))];
  const withInputs: number[] = [];
  for (let e = records.length; e < target; e++) {
    if (rng.next() < 0.15) {
      records.push({ digest: sha256Digest(`extra-root|${e}|${seedText}`) });
      continue;
    }
    const duplicate = withInputs.length > 0 && rng.next() < 0.02;
    const digest = duplicate ? records[withInputs[rng.int(withInputs.length)]].digest : sha256Digest(`extra-key|${e}|${seedText}`);
    const slots = rng.next() < 0.25 ? 2 : 1;
    const inputs: CacheInput[][] = [];
    for (let s = 0; s < slots; s++) {
      const want = rng.next() < 0.3 ? 2 + rng.int(3) : 1;
      const seen = new Set<string>();
      const slot: CacheInput[] = [];
      for (let tries = 0; slot.length < want && tries < want * 4; tries++) {
        // Mostly recent records: real graphs link along chains of ops, not across the whole file.
        const back = 1 + Math.floor(rng.next() ** 2 * Math.min(e, 512));
        const link = Math.max(0, e - back);
        const selector = rng.next() < 0.35 ? selectors[rng.int(selectors.length)] : undefined;
        const key = `${selector ?? ''}|${link}`;
        if (seen.has(key)) continue;
        seen.add(key);
        slot.push(selector ? { selector, link } : { link });
      }
      inputs.push(slot);
    }
    withInputs.push(records.length);
    records.push({ digest, inputs });
  }
}

// ---- layer content ---------------------------------------------------------------------------------

const WORDS = ['cache', 'layer', 'build', 'stage', 'record', 'digest', 'blob', 'chain', 'result', 'input', 'selector', 'export', 'import', 'manifest', 'config', 'snapshot'];

function textContent(size: number, key: string): Buffer {
  const rng = new Rng(key);
  let out = `// generated by cachescope's cache generator: ${key.split('|').slice(1).join(' ')}\n`;
  for (let line = 0; out.length < size; line++) {
    const words = Array.from({ length: 3 + rng.int(6) }, () => WORDS[rng.int(WORDS.length)]);
    out += `export const ${words[0]}${line} = '${words.slice(1).join(' ')}';\n`;
  }
  return Buffer.from(out.slice(0, size), 'latin1');
}

/**
 * Pseudo-random bytes that compress to roughly half: an AES-CTR keystream (fast and seeded), where
 * each 4 KiB block stays random, becomes a 16-letter alphabet, or repeats an earlier block.
 */
function* binaryContent(size: number, key: string): Generator<Buffer> {
  const k = createHash('sha256').update(key).digest();
  const cipher = createCipheriv('aes-128-ctr', k.subarray(0, 16), k.subarray(16, 32));
  for (let done = 0; done < size; ) {
    const n = Math.min(CHUNK, size - done);
    const buf = cipher.update(ZERO_CHUNK.subarray(0, n));
    for (let off = 0; off < n; off += 4096) {
      const end = Math.min(off + 4096, n);
      const mode = buf[off] & 3;
      if (mode === 1 || (mode > 1 && off === 0)) {
        for (let i = off; i < end; i++) buf[i] = 0x61 + (buf[i] & 15);
      } else if (mode > 1) {
        const from = off - 4096 * (1 + Math.min(off / 4096 - 1, buf[off + 1 < end ? off + 1 : off] & 7));
        buf.copy(buf, off, from, from + (end - off));
      }
    }
    done += n;
    yield buf;
  }
}

function* layerTar(spec: LayerSpec, seedText: string): Generator<Uint8Array> {
  const mtime = Number(spec.createdNs / 1_000_000_000n);
  for (const dir of spec.dirs) yield tarHeader({ name: dir, type: 'directory', mtime });
  for (let i = 0; i < spec.files.length; i++) {
    const f = spec.files[i];
    const entry: TarEntry = { name: f.path, type: 'file', size: f.size, mtime, mode: f.path.includes('/bin/') ? 0o755 : 0o644 };
    yield tarHeader(entry);
    const key = `${seedText}|${spec.id}|${i}`;
    if (f.text) yield textContent(f.size, key);
    else yield* binaryContent(f.size, key);
    const pad = tarPadding(f.size);
    if (pad.length > 0) yield pad;
  }
  yield tarEnd();
}

function tarSize(spec: LayerSpec): number {
  let n = spec.dirs.length * TAR_BLOCK + 2 * TAR_BLOCK;
  for (const f of spec.files) n += TAR_BLOCK + Math.ceil(f.size / TAR_BLOCK) * TAR_BLOCK;
  return n;
}

function emptyLayerBlob(compression: GenCompression, level: number | undefined): Buffer {
  if (compression === 'gzip') return EMPTY_LAYER_GZIP;
  const tar = Buffer.from(tarEnd());
  return compression === 'zstd' ? zstdCompress(tar, { compressionLevel: level ?? 3 }) : tar;
}

let tmpCounter = 0;

/** Streams one layer: tar chunks → compressor → file, hashing the tar (diffID) and the blob (digest). */
async function writeLayerBlob(blobDir: string, spec: LayerSpec, seedText: string, compression: GenCompression, level: number | undefined): Promise<BlobInfo> {
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let size = 0;
  const tmp = join(blobDir, `.generate-${process.pid}-${tmpCounter++}.tmp`);
  const source = Readable.from(
    (function* () {
      for (const chunk of layerTar(spec, seedText)) {
        tarHash.update(chunk);
        yield chunk;
      }
    })(),
    { objectMode: false, highWaterMark: CHUNK },
  );
  const compressor =
    compression === 'gzip'
      ? createGzip({ level: level ?? 6, chunkSize: 256 * 1024 })
      : compression === 'zstd'
        ? new CompressStream({ compressionLevel: level ?? 3 })
        : new PassThrough();
  const tap = new Transform({
    transform(chunk: Buffer, _encoding: string, done: TransformCallback) {
      // zlib writes OS = 3 (Unix) in the gzip header; Go's compress/gzip, hence every BuildKit layer,
      // writes 255 (unknown). The header is outside the CRC, so patching it keeps the stream valid.
      if (compression === 'gzip' && size <= 9 && size + chunk.length > 9) chunk[9 - size] = 0xff;
      size += chunk.length;
      blobHash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, compressor, tap, createWriteStream(tmp));
    const hex = blobHash.digest('hex');
    await rename(tmp, join(blobDir, hex));
    return { digest: `sha256:${hex}`, size, diffID: `sha256:${tarHash.digest('hex')}` };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function runPool<T>(tasks: Array<() => Promise<T>>, concurrency: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  return results;
}

// ---- the export ------------------------------------------------------------------------------------

export async function generateCache(dir: string, opts: GenerateOptions): Promise<GeneratedCache> {
  const seedText = `cachescope-generator|${String(opts.seed)}`;
  const oci = opts.ociMediaTypes !== false;
  const tag = opts.tag ?? 'latest';
  if (opts.form === 'image-manifest' && !oci) {
    // BuildKit's own refusal for this combination (§5.3).
    throw new Error('invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format');
  }
  if (!Number.isFinite(opts.layerBytes) || opts.layerBytes < 1) throw new RangeError('layerBytes must be ≥ 1');
  const plan = planBuild(opts, seedText);
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });

  // Blobs first: the config needs their digests.
  const specs = [...plan.layerSpecs.values()];
  const infos = new Map<string, BlobInfo>();
  let blobsWritten = 0;
  let blobBytes = 0;
  const emptyBlob = emptyLayerBlob(opts.compression, opts.compressionLevel);
  const emptyInfo: BlobInfo = { digest: sha256Digest(emptyBlob), size: emptyBlob.length, diffID: EMPTY_TAR_DIFF_ID };
  if (opts.withBlobs) {
    const tasks = specs.map((spec) => async () => {
      if (spec.empty) {
        await writeFile(join(blobDir, emptyInfo.digest.slice('sha256:'.length)), emptyBlob);
        return emptyInfo;
      }
      return writeLayerBlob(blobDir, spec, seedText, opts.compression, opts.compressionLevel);
    });
    const results = await runPool(tasks, opts.concurrency ?? Math.max(2, availableParallelism()));
    specs.forEach((spec, i) => infos.set(spec.id, results[i]));
    const distinct = new Map(results.map((r) => [r.digest, r.size]));
    blobsWritten = distinct.size;
    for (const size of distinct.values()) blobBytes += size;
  } else {
    // Only the JSON: plausible digests and sizes for blobs that are not there (like the fixtures'
    // MISSING_BLOBS), except the empty layer, whose real digest is cheap and well known.
    for (const spec of specs) {
      if (spec.empty) {
        infos.set(spec.id, emptyInfo);
        continue;
      }
      const tar = tarSize(spec);
      const diffID = sha256Digest(`missing-tar|${seedText}|${spec.id}`);
      infos.set(spec.id, opts.compression === 'uncompressed'
        ? { digest: diffID, size: tar, diffID }
        : { digest: sha256Digest(`missing-blob|${opts.compression}|${seedText}|${spec.id}`), size: Math.max(32, Math.round(tar * 0.47)), diffID });
    }
  }

  // Config layers in marshal order, then BuildKit's sort. Descriptors are kept per digest with the
  // last writer winning, as `state.descriptors[desc.Digest] = …` does, so a blob used at several
  // positions carries one set of annotations everywhere.
  const mediaType = layerMediaType(opts.compression, oci);
  const descriptors = new Map<string, Descriptor>();
  const layers: CacheLayer[] = plan.chain.map(({ specId, parent }) => {
    const info = infos.get(specId)!;
    const spec = plan.layerSpecs.get(specId)!;
    descriptors.set(info.digest, {
      mediaType,
      digest: info.digest,
      size: info.size,
      annotations: { [Annotation.createdAt]: formatRfc3339Nano(spec.createdNs), [Annotation.uncompressed]: info.diffID },
    });
    return { blob: info.digest, parent };
  });
  const config = sortConfig({ layers, records: plan.records });
  const configJson = marshalConfig(config);
  const configDescriptor: Descriptor = { mediaType: MediaType.cacheConfigV0, digest: sha256Digest(configJson), size: Buffer.byteLength(configJson) };
  const layerDescriptors = (config.layers ?? []).map((l) => structuredClone(descriptors.get(l.blob!)!));

  let manifest: ImageManifest | ImageIndex;
  let manifestJson: string;
  let manifestMediaType: string;
  if (opts.form === 'image-manifest') {
    manifestMediaType = MediaType.ociManifest;
    manifest = { schemaVersion: 2, mediaType: manifestMediaType, config: configDescriptor, layers: layerDescriptors };
    manifestJson = marshalManifest(manifest);
  } else {
    manifestMediaType = oci ? MediaType.ociIndex : MediaType.dockerManifestList;
    // The index variant: layer descriptors, then the config descriptor appended last.
    manifest = { schemaVersion: 2, mediaType: manifestMediaType, manifests: [...layerDescriptors, configDescriptor] };
    manifestJson = marshalIndex(manifest);
  }
  const manifestDescriptor: Descriptor = { mediaType: manifestMediaType, digest: sha256Digest(manifestJson), size: Buffer.byteLength(manifestJson) };

  await writeFile(join(blobDir, configDescriptor.digest.slice(7)), configJson);
  await writeFile(join(blobDir, manifestDescriptor.digest.slice(7)), manifestJson);
  await updateIndex(dir, manifestDescriptor, tag);
  await writeFile(join(dir, 'oci-layout'), marshalOciLayout());

  return { dir, manifestDescriptor, manifest, manifestJson, configDescriptor, config, configJson, layerDescriptors, blobsWritten, blobBytes };
}

/**
 * index.json as the buildctl client rewrites it (client/ociindex): keep other tags, drop the entry
 * that had this tag, append the new one. Old blobs stay, which is how orphaned generations pile up.
 */
async function updateIndex(dir: string, manifest: Descriptor, tag: string): Promise<void> {
  const path = join(dir, 'index.json');
  let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  const existing = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (existing !== null) {
    index = JSON.parse(existing) as ImageIndex;
    if (!index.schemaVersion) index.schemaVersion = 2;
    if (!index.mediaType) index.mediaType = MediaType.ociIndex;
    index.manifests = (index.manifests ?? []).filter((d) => !(d.annotations?.[Annotation.refName] === tag && !d.annotations?.[Annotation.imageName]));
  }
  index.manifests.push({ ...manifest, annotations: { [Annotation.refName]: tag } });
  await writeFile(path, marshalIndex(index));
}
