/** The view-shaped snapshot of an opened source (what the UI shows and `inspect --json` prints). */
import { CacheError } from '../../../shared/contract/errors';
import { toView } from '../../../shared/cache/model';
import type { CacheView, CacheWarning, OrphanReport } from '../../../shared/cache/view-types';
import { findOrphans } from '../store/gc';
import type { ImageHistorySource } from '../../../shared/graph/history-names';
import { inlineImageHistory, namesFor } from './image-history';
import type { OpenedSource } from './open-cache';

/** What BuildKit's `reset=true` would delete in the layout, or null (with why) when that cannot be said. */
async function layoutOrphans(dir: string): Promise<{ orphans: OrphanReport | null; warnings: CacheWarning[] }> {
  try {
    const found = await findOrphans(dir);
    if (found.noIndex) return { orphans: null, warnings: [{ code: 'orphans-unknown', message: 'no index.json: nothing says which generation is current, so no blob is called an orphan', where: dir }] };
    const warnings: CacheWarning[] = found.problems.map((p) => ({ code: 'orphans-incomplete', message: `a reachable manifest could not be followed, so what it references counts as orphaned: ${p}`, where: dir }));
    return { orphans: { items: found.items, bytes: found.bytes }, warnings };
  } catch (err) {
    // A layout opened by digest can have a broken index.json; the cache itself is still worth showing.
    if (!(err instanceof CacheError)) throw err;
    return { orphans: null, warnings: [{ code: 'orphans-unknown', message: `orphans not computed: ${err.message}`, where: dir }] };
  }
}

/**
 * The view with names from image histories: the inline-cache source's own image config first,
 * then the attached images in the order they were attached.
 */
export function withNames(view: CacheView, opened: Pick<OpenedSource, 'texts'>, attached: readonly ImageHistorySource[] = []): CacheView {
  const inline = inlineImageHistory(view, opened.texts.config);
  const images = inline ? [inline, ...attached] : [...attached];
  const { names: _old, ...bare } = view;
  void _old;
  return namesFor(bare, images);
}

export async function viewOf(opened: OpenedSource, attached: readonly ImageHistorySource[] = []): Promise<CacheView> {
  const { orphans, warnings } = opened.layout ? await layoutOrphans(opened.layout.dir) : { orphans: null, warnings: [] };
  const view = toView(opened.model, {
    present: (d) => opened.present.has(d),
    orphans,
    layout: opened.layout,
    extraWarnings: warnings,
    blobLocation: opened.blobs.kind,
  });
  return withNames(view, opened, attached);
}
