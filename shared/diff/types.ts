/** The result of diffing two caches (A = before, B = after). */
import type { ManifestVariant } from '../cache/view-types';

/** How a cache is packaged: what BuildKit's `image-manifest` and `oci-mediatypes` export options decide. */
export interface CacheForm {
  /** 'image-manifest' (one OCI/Docker image manifest), 'index' (a manifest list), 'legacy-index', 'config-only', 'inline'. */
  variant: ManifestVariant;
  /** The manifest's (or manifest list's) media type, or null when the source has no manifest. */
  manifestMediaType: string | null;
  /** Distinct media types of the layer descriptors, sorted. */
  layerMediaTypes: string[];
  /** The media type family of the manifest and its layers: 'mixed' when they disagree, null when nothing is typed. */
  mediaTypes: 'oci' | 'docker' | 'mixed' | null;
}

/** The two forms and what differs between them. A form change alone makes two caches different (as diffoci: exit 1). */
export interface FormDiff {
  a: CacheForm;
  b: CacheForm;
  changed: boolean;
  /** One line per difference, e.g. `manifest form: index → image-manifest`, `media types: OCI → Docker`. Empty when unchanged. */
  changes: string[];
}

export interface BlobDiffRow {
  digest: string;
  size: number;
  side: 'a' | 'b' | 'both';
  diffID: string | null;
  /**
   * When the blob is on one side only but its diffID (`containerd.io/uncompressed`) is on the other
   * side under another digest: that other digest (the smallest, when there are several). The same
   * content compressed differently: recompressed, not rebuilt.
   */
  recompressedFrom: string | null;
}

export interface RecordMatch {
  a: number;
  b: number;
}

export interface Divergence {
  /** Leaf record of B (nothing links to it: a final result) with no match in A. */
  leaf: number;
  /**
   * The record of B where the first change is: the deepest record, walking down from the leaf through
   * records A cannot serve (new keys, and known keys whose inputs changed), whose inputs are all
   * served except the changed one (`slot`), or whose own key changed (slot -1).
   */
  record: number;
  /** The input slot that diverged, or -1 when the record's own key is new (no record of A has its digest and input count). */
  slot: number;
  /** B's selector on the diverged link, and the selector A had there. */
  selector: string | null;
  selectorA: string | null;
  /** Digest A had there, or null when A had nothing comparable (the record's own key is new too). */
  digestA: string | null;
  digestB: string;
  /** The record index in A that was compared, or null when A has no record with this key. */
  recordA: number | null;
  /** What B's record at the divergence is: a source (root), a content-checksum key, or an op. */
  kind: 'source' | 'content-checksum' | 'op';
  /**
   * Records of B from `record` up to `leaf` (both included) that A cannot serve, ascending: every
   * unmatched record on a path between them. Their results are what had to be rebuilt.
   */
  rebuiltRecords: number[];
  /**
   * The layers those records' builds added (each result's stack above what it was built on, never
   * the layers below the change) whose content A does not hold: distinct blobs, and their bytes.
   */
  rebuiltLayers: number;
  rebuiltBytes: number;
  explanation: string;
}

export interface DiffSummary {
  /** Blobs only in A, not counting recompressed ones (`recompressedFrom` set): content B dropped. */
  blobsOnlyA: number;
  /** Blobs only in B, not counting recompressed ones: new content. */
  blobsOnlyB: number;
  blobsBoth: number;
  bytesOnlyA: number;
  bytesOnlyB: number;
  bytesBoth: number;
  /** Layer contents (diffIDs) on both sides whose compressed blobs differ: recompressed, not rebuilt. */
  recompressed: number;
  /** Bytes of the one-sided blobs of those contents, per side. */
  recompressedBytesA: number;
  recompressedBytesB: number;
  /** Records of B that match at least one record of A (so recordsMatched + recordsNew = B's records). */
  recordsMatched: number;
  recordsNew: number;
  recordsGone: number;
  recordsResultChanged: number;
  /** Matched pairs whose input slots hold other alternatives (BuildKit added or dropped backlinks). */
  recordsLinksChanged: number;
  /** Bytes of the distinct blobs of B's usable results. */
  resultBytesB: number;
  /** The part of resultBytesB whose content (blob or diffID) A holds. */
  reusableBytes: number;
  /** Share (0..1) of B's result bytes that A could have served (1 when B has no result bytes). */
  reusableShare: number;
  /** Layer chains (blob stacks by diffID) present in both caches. */
  chainsBoth: number;
  chainsOnlyA: number;
  chainsOnlyB: number;
}

export interface CacheDiff {
  /**
   * Nothing differs: the same form, blobs, chains, records, links and results (the config bytes may
   * still differ, e.g. in layer order).
   */
  identical: boolean;
  /** Manifest form and media types of each side; a form change alone makes `identical` false (diffoci's exit 1). */
  form: FormDiff;
  summary: DiffSummary;
  blobs: BlobDiffRow[];
  /** Every (A, B) pair of matching records, by a then b. Duplicate keys can match more than once. */
  matched: RecordMatch[];
  newRecords: number[];
  goneRecords: number[];
  resultChanged: RecordMatch[];
  /** Matched pairs whose slots hold other alternatives, by a then b. */
  linksChanged: RecordMatch[];
  divergences: Divergence[];
}
