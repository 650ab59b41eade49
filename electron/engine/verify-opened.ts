/** `verify` for an opened source: hash every present blob, check sizes and diffIDs, list missing ones. */
import type { VerifyReport } from '../../shared/contract/requests';
import { Annotation } from '../../shared/oci/media-types';
import { createDecompressor } from './compression';
import { openContentStore } from './content-store';
import type { OpenedSource } from './open-cache';
import { verifyBlobs } from './verify-blobs';

export async function verifyOpened(opened: OpenedSource, options: { signal?: AbortSignal } = {}): Promise<VerifyReport> {
  const referenced = [...new Set(opened.model.norm.layers.map((l) => l.blob))];
  if (!opened.layout) {
    // A bare file has no blobs beside it: everything it references is missing here.
    return { checked: 0, bytes: 0, missing: referenced, problems: [], ok: referenced.length === 0 };
  }
  const descriptors = referenced.map((digest) => {
    const d = opened.model.descriptors.get(digest);
    return { digest, size: d?.size ?? -1, mediaType: d?.mediaType ?? '', diffID: d?.annotations?.[Annotation.uncompressed] };
  });
  const store = await openContentStore(opened.layout.dir);
  // zstd layers get their diffID checked too, through the one compression module.
  return verifyBlobs(store, descriptors, { signal: options.signal, createZstdDecompressor: () => createDecompressor('zstd') });
}
