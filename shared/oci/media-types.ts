/** BuildKit's and OCI's exact media type strings, and the layer conversions BuildKit applies. */

export const MediaType = {
  cacheConfigV0: 'application/vnd.buildkit.cacheconfig.v0',
  legacyBuildCacheV0: 'application/vnd.buildkit.buildcache.v0',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

export const Annotation = {
  uncompressed: 'containerd.io/uncompressed',
  createdAt: 'buildkit/createdat',
  description: 'buildkit/description',
  refName: 'org.opencontainers.image.ref.name',
  imageName: 'io.containerd.image.name',
  inlineCacheKey: 'moby.buildkit.cache.v0',
} as const;

export type Compression = 'uncompressed' | 'gzip' | 'zstd';

/** Pairs (docker, oci) of BuildKit's `ConvertAllLayerMediaTypes` table. */
const DOCKER_OCI_PAIRS: ReadonlyArray<readonly [string, string]> = [
  [MediaType.dockerLayer, MediaType.ociLayer],
  [MediaType.dockerLayerGzip, MediaType.ociLayerGzip],
  [MediaType.dockerLayerZstd, MediaType.ociLayerZstd],
  [MediaType.dockerForeignLayer, MediaType.ociNondistributable],
  [MediaType.dockerForeignLayerGzip, MediaType.ociNondistributableGzip],
];

/** Converts a layer media type to the OCI or Docker family; unknown types are left as they are, like BuildKit. */
export function convertLayerMediaType(mediaType: string, oci: boolean): string {
  for (const [docker, ociType] of DOCKER_OCI_PAIRS) {
    if (oci && mediaType === docker) return ociType;
    if (!oci && mediaType === ociType) return docker;
  }
  return mediaType;
}

/** Compression implied by a layer media type, or null for a type that is not a known layer type. */
export function compressionOfMediaType(mediaType: string): Compression | null {
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.tar.zstd')) return 'zstd';
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('v1.tar')) return 'uncompressed';
  return null;
}

/** The layer media type for a compression in one family. */
export function layerMediaType(compression: Compression, oci: boolean): string {
  if (oci) {
    return compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
  }
  return compression === 'gzip' ? MediaType.dockerLayerGzip : compression === 'zstd' ? MediaType.dockerLayerZstd : MediaType.dockerLayer;
}

/** Detects compression from a blob's first bytes, as BuildKit's detectCompressionType does. */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'uncompressed';
}

export function isDockerMediaType(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.docker.');
}
