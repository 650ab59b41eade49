/** The result of diffing two caches (A = before, B = after). */

export interface BlobDiffRow {
  digest: string;
  size: number;
  side: 'a' | 'b' | 'both';
  diffID: string | null;
  /** When the blob differs in digest but its diffID is in the other cache: the other digest. */
  recompressedFrom: string | null;
}

export interface RecordMatch {
  a: number;
  b: number;
}

export interface Divergence {
  /** Leaf record of B with no match in A. */
  leaf: number;
  /** The record of B whose input diverged. */
  record: number;
  /** The input slot that diverged, or -1 when the record's own key is new (no record of A has its digest). */
  slot: number;
  /** B's selector on the diverged link, and the selector A had there. */
  selector: string | null;
  selectorA: string | null;
  /** Digest A had there, or null when A had nothing comparable. */
  digestA: string | null;
  digestB: string;
  /** The record index in A that was compared, if any. */
  recordA: number | null;
  kind: 'source' | 'content-checksum' | 'op';
  rebuiltLayers: number;
  rebuiltBytes: number;
  explanation: string;
}

export interface DiffSummary {
  blobsOnlyA: number;
  blobsOnlyB: number;
  blobsBoth: number;
  bytesOnlyA: number;
  bytesOnlyB: number;
  bytesBoth: number;
  recompressed: number;
  recordsMatched: number;
  recordsNew: number;
  recordsGone: number;
  recordsResultChanged: number;
  /** Share (0..1) of B's result bytes that A could have served. */
  reusableShare: number;
  /** Layer chains (blob stacks by diffID) present in both caches. */
  chainsBoth: number;
  chainsOnlyA: number;
  chainsOnlyB: number;
}

export interface CacheDiff {
  identical: boolean;
  summary: DiffSummary;
  blobs: BlobDiffRow[];
  matched: RecordMatch[];
  newRecords: number[];
  goneRecords: number[];
  resultChanged: RecordMatch[];
  divergences: Divergence[];
}
