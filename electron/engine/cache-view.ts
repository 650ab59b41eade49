/** The view-shaped snapshot of an opened source (what the UI shows and `inspect --json` prints). */
import { toView } from '../../shared/cache/model';
import type { CacheView } from '../../shared/cache/view-types';
import { findOrphans } from './gc';
import type { OpenedSource } from './open-cache';

export async function viewOf(opened: OpenedSource): Promise<CacheView> {
  const orphans = opened.layout ? await findOrphans(opened.layout.dir) : null;
  return toView(opened.model, {
    present: (d) => opened.present.has(d),
    orphans: orphans ? { items: orphans.items, bytes: orphans.bytes } : null,
    layout: opened.layout,
  });
}
