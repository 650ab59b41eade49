/** Diff of two opened sources: the pure diff on their models. */
import { diffCaches } from '../../../shared/diff/diff-caches';
import type { CacheDiff } from '../../../shared/diff/types';
import type { OpenedSource } from './open-cache';

export async function diffOpened(a: OpenedSource, b: OpenedSource): Promise<CacheDiff> {
  return diffCaches(a.model, b.model);
}
