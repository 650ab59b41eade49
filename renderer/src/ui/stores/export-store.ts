/** Export jobs by id. Progress is coalesced per animation frame at the sink, so bursts never flood React. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { ExportFinished } from '../../../../shared/contract/index';
import type { ExportOptions, ExportProgress } from '../../../../shared/export/types';
import { api } from '../bridge';

export interface ExportJob {
  jobId: string;
  dest: string;
  tag: string;
  progress: ExportProgress | null;
  finished: ExportFinished | null;
}

export interface ExportState {
  jobs: Record<string, ExportJob>;
  start(cacheId: string, dest: string, options: ExportOptions): Promise<string>;
  cancel(jobId: string): Promise<void>;
}

export const exportStore = createStore<ExportState>()((set) => ({
  jobs: {},
  async start(cacheId, dest, options) {
    const { jobId } = await api.request('startExport', { cacheId, dest, options });
    set((s) => ({ jobs: { ...s.jobs, [jobId]: { jobId, dest, tag: options.tag ?? 'latest', progress: pending.get(jobId) ?? s.jobs[jobId]?.progress ?? null, finished: s.jobs[jobId]?.finished ?? null } } }));
    return jobId;
  },
  async cancel(jobId) {
    await api.request('cancelExport', { jobId });
  },
}));

const pending = new Map<string, ExportProgress>();
let frame = 0;

function flush(): void {
  frame = 0;
  const batch = [...pending.values()];
  pending.clear();
  exportStore.setState((s) => {
    const jobs = { ...s.jobs };
    for (const p of batch) jobs[p.jobId] = { ...(jobs[p.jobId] ?? { jobId: p.jobId, dest: '', tag: '', finished: null }), progress: p };
    return { jobs };
  });
}

api.on('exportProgress', (p) => {
  pending.set(p.jobId, p);
  if (!frame) frame = requestAnimationFrame(flush);
});

api.on('exportFinished', (f) => {
  if (frame) {
    cancelAnimationFrame(frame);
    flush();
  }
  exportStore.setState((s) => ({ jobs: { ...s.jobs, [f.jobId]: { ...(s.jobs[f.jobId] ?? { jobId: f.jobId, dest: '', tag: '', progress: null }), finished: f } } }));
});

export function useExport<T>(selector: (s: ExportState) => T): T {
  return useStore(exportStore, selector);
}
