import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXPORTER_COMMENT, lastCreated, normalizeHistory } from '../../../shared/image/history';
import type { ImageHistory, LayerMeta } from '../../../shared/image/history';

const meta = (n: number): LayerMeta[] => Array.from({ length: n }, (_, i) => ({ createdAt: `2026-01-0${i + 1}T00:00:00Z`, description: i === 0 ? 'RUN make' : null }));

describe('normalizeHistory (moby normalizeLayersAndHistory)', () => {
  it('adds the missing entries with the layers createdat and the exporter comment (fewer entries than layers)', () => {
    const history: ImageHistory[] = [{ created: '2025-12-31T00:00:00Z', created_by: 'ENV A=1', empty_layer: true }, { created_by: 'ADD rootfs' }];
    const r = normalizeHistory(history, meta(3));
    assert.equal(r.warning, null);
    assert.deepEqual(r.history, [
      { created: '2025-12-31T00:00:00Z', created_by: 'ENV A=1', empty_layer: true },
      // A non-empty entry without created takes its layer's time.
      { created: '2026-01-01T00:00:00Z', created_by: 'ADD rootfs' },
      { created: '2026-01-02T00:00:00Z', comment: EXPORTER_COMMENT },
      { created: '2026-01-03T00:00:00Z', comment: EXPORTER_COMMENT },
    ]);
  });

  it('keeps history as it is when it accounts for every layer (equal)', () => {
    const history: ImageHistory[] = [{ created: '2020-01-01T00:00:00Z', created_by: 'a' }, { created: '2020-01-02T00:00:00Z', created_by: 'b' }];
    assert.deepEqual(normalizeHistory(history, meta(2)), { history, warning: null });
  });

  it('marks the entries past the last layer empty and warns (more entries than layers)', () => {
    const history: ImageHistory[] = [{ created_by: 'a' }, { created_by: 'env', empty_layer: true }, { created_by: 'b' }, { created_by: 'c' }];
    const r = normalizeHistory(history, meta(2));
    assert.match(r.warning ?? '', /invalid image config with unaccounted layers: history names 3 layers, the image has 2/);
    assert.deepEqual(r.history, [
      { created_by: 'a', created: '2026-01-01T00:00:00Z' },
      { created_by: 'env', empty_layer: true },
      { created_by: 'b', created: '2026-01-02T00:00:00Z' },
      { created_by: 'c', empty_layer: true },
    ]);
  });

  it('uses the layer description as created_by and leaves created out when the layer has no time', () => {
    const r = normalizeHistory([], [{ createdAt: null, description: 'COPY . /app' }]);
    assert.deepEqual(r.history, [{ created_by: 'COPY . /app', comment: EXPORTER_COMMENT }]);
  });

  it('the image time is the last history time', () => {
    assert.equal(lastCreated([{ created: 'a' }, { created: 'b' }, { comment: 'x' }]), 'b');
    assert.equal(lastCreated([]), null);
  });
});
