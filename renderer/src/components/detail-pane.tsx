/** The right-hand pane: the raw JSON of the selected layer entry or record, pretty-printed. */
import type { CacheView } from '../../../shared/cache/view-types';
import { selectionStore, useSelection } from '../stores/selection-store';
import { CopyButton } from './digest';
import { FilesPanel } from '../views/files-panel';
import { HistoryNameLine } from './attach-image';
import { ImageExportButton } from '../views/image-export-dialog';

export function DetailPane({ cacheId, view }: { cacheId: string; view: CacheView }) {
  const selection = useSelection((s) => (s.selection && s.selection.cacheId === cacheId ? s.selection : null));
  if (!selection) return null;
  const item = selection.kind === 'layer' ? view.layers[selection.index] : view.records[selection.index];
  if (!item) return null;
  const json = JSON.stringify(item, null, 2);
  return (
    <aside className="detail" data-testid="detail-pane" aria-label="Selection details">
      <div className="detail-head">
        <h4>
          {selection.kind === 'layer' ? 'Layer entry' : 'Record'} #{selection.index}
        </h4>
        <CopyButton text={json} label="copy JSON" />
        <button type="button" className="icon" onClick={() => selectionStore.getState().select(null)} aria-label="Close the detail pane" title="Close">
          ×
        </button>
      </div>
      <HistoryNameLine name={selection.kind === 'layer' ? view.names?.layers[selection.index] : view.names?.records[selection.index]} />
      {selection.kind === 'record' && view.records[selection.index]?.stack.length > 0 && (
        <div className="detail-image-export">
          <ImageExportButton target={{ cacheId, selection: { record: selection.index }, label: `record #${selection.index}` }} />
        </div>
      )}
      {selection.kind === 'layer' && <FilesPanel key={`${cacheId}:${selection.index}`} cacheId={cacheId} target={{ layer: selection.index }} />}
      <pre className="raw detail-json" data-testid="detail-json" tabIndex={0} aria-label="Raw JSON">
        {json}
      </pre>
    </aside>
  );
}
