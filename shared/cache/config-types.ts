/** The cache config v0 JSON (`application/vnd.buildkit.cacheconfig.v0`), field for field as BuildKit writes it. */

export interface CacheConfig {
  layers?: CacheLayer[];
  records?: CacheRecord[];
}

export interface CacheLayer {
  blob?: string;
  /** Omitted when 0 (Go omitempty); -1 means "no parent". */
  parent?: number;
  /** Only gha/s3/azblob configs carry these. */
  annotations?: LayerAnnotations;
}

export interface LayerAnnotations {
  mediaType?: string;
  diffID?: string;
  size?: number;
  /** Kept as the original string: JS Date would lose nanoseconds and change the digest. */
  createdAt: string;
}

export interface CacheRecord {
  /** Results: the snapshot is the whole chain ending at layers[layer]. JSON key `layers`. */
  layers?: CacheResult[];
  chains?: ChainedResult[];
  digest?: string;
  inputs?: CacheInput[][];
}

export interface CacheResult {
  layer: number;
  createdAt: string;
}

export interface ChainedResult {
  layers: number[];
  createdAt: string;
}

export interface CacheInput {
  selector?: string;
  link: number;
}

/** 2017 legacy config: `{"Items":[…]}` with Go field names. */
export interface LegacyConfig {
  Items: LegacyItem[];
}

export interface LegacyItem {
  Blobsum: string;
  CacheKey: string;
  ContentKey: string;
  Parent: string;
  DiffID: string;
}
