/**
 * View-shaped snapshots of a cache: plain arrays keyed by index, computed once in shared/ and sent
 * as they are to the renderer and printed as they are by `cachescope inspect --json`.
 */
import type { Compression } from '../oci/media-types';

export type ManifestVariant = 'image-manifest' | 'index' | 'legacy-index' | 'config-only' | 'inline';
export type MediaTypeFamily = 'oci' | 'docker';
export type ConfigFormat = 'v0' | 'v0-annotated' | 'legacy-items' | 'inline-records';

export interface ManifestInfo {
  mediaType: string;
  digest: string | null;
  size: number;
  family: MediaTypeFamily;
  /** True when the JSON had no mediaType and the type was inferred from its body. */
  inferred: boolean;
}

export interface ConfigInfo {
  mediaType: string;
  digest: string | null;
  size: number;
  format: ConfigFormat;
}

export interface CacheSummary {
  layerEntries: number;
  uniqueBlobs: number;
  records: number;
  recordsWithResults: number;
  /**
   * Chain roots: layer entries whose parent is -1 (the base layer of each chain, one per base image
   * or platform). Not to be confused with source records (`sourceRecords`).
   */
  chainRoots: number;
  /** Source records: records with no inputs (an image pull, a local context, a content checksum). */
  sourceRecords: number;
  /** Distinct referenced blobs absent from the source. */
  missingBlobs: number;
  /** Sum of the descriptor sizes of the distinct blobs. */
  totalBytes: number;
}

export interface LayerRow {
  index: number;
  blob: string;
  mediaType: string;
  size: number;
  compression: Compression | 'unknown';
  diffID: string | null;
  createdAt: string | null;
  /** -1 for a root entry. */
  parent: number;
  parentBlob: string | null;
  present: boolean;
  /** How many layer entries share this blob (1 when unique). */
  blobUses: number;
  /**
   * Why this entry's parent chain never reaches -1 (`invalid looping layer`, `invalid layer index %d`),
   * or null. Only entries no usable result walks through can have one: BuildKit ignores them, and so
   * does the import here, but they are listed in `chain.detached` and an export refuses them.
   */
  problem: string | null;
}

export interface InputLink {
  link: number;
  selector: string | null;
}

export interface ResultRef {
  layer: number;
  createdAt: string;
}

export interface ChainRef {
  layers: number[];
  createdAt: string;
}

export interface RecordRow {
  index: number;
  digest: string;
  /** Input slots; each slot lists alternative links (OR). */
  inputs: InputLink[][];
  results: ResultRef[];
  chains: ChainRef[];
  /** Layer entry indexes of the resolved result stack, base first (empty without a result). */
  stack: number[];
  /** Summed descriptor sizes of the blobs in the resolved stack, per position (a blob twice in the stack counts twice); 0 without a result or when it was dropped. */
  resultSize: number;
  /** Bytes of this result's blobs that other records' results use too. */
  sharedBytes: number;
  /** Records that link to this one. */
  dependents: number[];
  /** A source record: it has no inputs. (Layer entries with parent -1 are chain roots, a different thing.) */
  isSource: boolean;
  isLeaf: boolean;
  /** Set when the result was dropped because a blob is not among the manifest's descriptors. */
  droppedResult: string | null;
  /** Which result `stack` shows (BuildKit's best: the newest usable one), or null without results. */
  shownResult: { kind: 'layers' | 'chains'; index: number } | null;
  /** BuildKit ignores this record: its digest is a `random:` key, or it links to an ignored record. */
  ignored: boolean;
}

export interface ChainTree {
  /** Layer entry indexes with parent -1. */
  roots: number[];
  /** children[i]: entries whose parent is i. */
  children: number[][];
  /** recordsEndingAt[i]: records whose result stack ends at entry i. */
  recordsEndingAt: number[][];
  /** Entries that no root reaches: their parent chain loops or leaves the array (see LayerRow.problem). */
  detached: number[];
}

export interface OrphanEntry {
  digest: string;
  size: number;
  kind: 'manifest' | 'config' | 'layer' | 'unknown';
}

export interface OrphanReport {
  items: OrphanEntry[];
  bytes: number;
}

export interface CacheWarning {
  code: string;
  message: string;
  /** Which file and field, e.g. `blobs/sha256/ab…: records[3].inputs[0]`. */
  where?: string;
}

/**
 * A name from an image's history: the `created_by` of the history entry that made a layer, e.g.
 * `COPY a.txt /a.txt # buildkit`, and where it was found.
 */
export interface HistoryName {
  /** The history entry's `created_by`. */
  text: string;
  /** Where the name comes from, in words: `from image <ref> history[3]`. */
  from: string;
  /** The image reference (or `inline cache` source) whose history it is. */
  image: string;
  /** Index into the image config's `history` (empty entries included). */
  history: number;
  /** Index into the image's `rootfs.diff_ids`. */
  imageLayer: number;
  /** The history entry's `created`, or null. */
  created: string | null;
  /**
   * How the layer entry was matched: `chain` when its whole chain of diffIDs is the image's first
   * layers, `diffID` when only its own diffID is one of the image's.
   */
  match: 'chain' | 'diffID';
}

/** An image whose history names this cache's layers, and how well it fits. */
export interface AttachedImage {
  /** What the user typed (or the inline-cache source). */
  ref: string;
  /** The image's config digest, when known. */
  configDigest: string | null;
  /** `rootfs.diff_ids` count, and how many of them are a layer entry of this cache. */
  layers: number;
  matchedLayers: number;
  /** Layer entries and records of this cache this image names. */
  namedLayers: number;
  namedRecords: number;
  /** Why some layers have no name (history shorter or longer than the layers), in words. */
  notes: string[];
  /** true for the image config an inline-cache source carries itself. */
  inline: boolean;
}

/** Names of layer entries and records taken from image histories (indexes as in `layers` and `records`). */
export interface CacheNames {
  images: AttachedImage[];
  layers: (HistoryName | null)[];
  /** A record's name is the name of the layer entry its result ends at. */
  records: (HistoryName | null)[];
}

export interface CacheView {
  source: string;
  manifest: ManifestInfo | null;
  variant: ManifestVariant;
  config: ConfigInfo;
  summary: CacheSummary;
  layers: LayerRow[];
  records: RecordRow[];
  chain: ChainTree;
  orphans: OrphanReport | null;
  warnings: CacheWarning[];
  /** The layout folder and tag, when the source is a local layout. */
  layout: { dir: string; tag: string | null; digest: string | null } | null;
  /**
   * Where the blobs are: on disk (`present` was checked), or in a registry (`present` means "listed
   * by the manifest": asking the registry blob by blob would cost a request each).
   */
  blobLocation: 'local' | 'registry';
  /** Names from image histories (the inline-cache config, attached images); absent when no image names anything. */
  names?: CacheNames;
}
