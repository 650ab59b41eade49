/**
 * Image export behind the contract: previewImageExport says what the image will be (chain, platform,
 * names, config source, destination) or why it cannot be made; startImageExport answers with a job id
 * at once and runs the export in the background, sending imageExportProgress (per-layer states and the
 * exporter's lines) and imageExportFinished (the exporter's response keys) through the sink.
 */
import { randomUUID } from 'node:crypto';
import { CacheError, toContractError } from '../../../shared/contract/errors';
import type { EventSink } from '../../../shared/contract/index';
import type { ImageExportFinished, ImageExportOutcome, ImageExportParams, ImageExportPreview, ImageExportProgress, ImageLayerProgressWire, ImageSelectionSpec } from '../../../shared/image/image-export-wire';
import { resolveImageLayers } from '../../../shared/image/layer-options';
import { parseImageNames } from '../../../shared/image/names';
import type { ImageName } from '../../../shared/image/names';
import { Annotation, compressionOfMediaType } from '../../../shared/oci/media-types';
import type { Platform } from '../../../shared/oci/types';
import { createRegistryAccess } from '../sources/registry-source';
import type { RegistryAccess } from '../sources/registry-source';
import type { OpenedSource } from '../sources/open-cache';
import { baseImageConfig, defaultPlatform, parsePlatform } from './image-config';
import type { ConfigSource } from './image-config';
import { platformText } from './image-config-ref';
import { describeImageDestination, parseImageDestination } from './image-destination';
import { exportImage, registryNameTargets, selectChain } from './image-export';
import type { ImageDestination, ImageSelection } from './image-export';

export interface ImageExportHandlerDeps {
  opened: (cacheId: string) => OpenedSource;
  emit: EventSink;
  /** DOCKER_CONFIG, PATH (credential helpers), proxies and CAs for registries (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Test seam: the registry clients of every job (default: new ones per job from `env`). */
  registry?: () => RegistryAccess;
  /** Least time between two progress events of one job (default 100 ms); state changes are sent at once. */
  progressEveryMs?: number;
}

export interface ImageExportHandlers {
  previewImageExport(params: Omit<ImageExportParams, 'dest'> & { dest?: string }): Promise<ImageExportPreview>;
  startImageExport(params: ImageExportParams): Promise<{ jobId: string }>;
  cancelImageExport(params: { jobId: string }): Promise<{ cancelled: boolean }>;
  /** A job's latest progress and outcome: how a page catches up after its event stream dropped. */
  getImageExportJob(params: { jobId: string }): Promise<{ progress: ImageExportProgress | null; finished: ImageExportFinished | null }>;
  cancelAll(): Promise<void>;
  /** Resolves once the job has finished (after its imageExportFinished event); for tests. */
  settled(jobId: string): Promise<void>;
  /** Resolves once no job reads from this opened cache (closing it must not cut a running export's downloads). */
  idle(cacheId: string): Promise<void>;
}

function selectionOf(s: ImageSelectionSpec): ImageSelection {
  if ('record' in s) return { kind: 'record', index: s.record };
  if ('layer' in s) return { kind: 'layer', index: s.layer };
  return { kind: 'chain', digest: s.chain };
}

function configOf(p: Pick<ImageExportParams, 'config'>): ConfigSource | null {
  if (!p.config) return null;
  return p.config.kind === 'file' ? { kind: 'file', file: p.config.value } : { kind: 'image', ref: p.config.value };
}

/** Everything a request says that can be checked without reading blobs; throws the first problem. */
function checked(p: Omit<ImageExportParams, 'dest'> & { dest?: string }): { names: ImageName[]; platform: Platform | null } {
  resolveImageLayers(p.options ?? {});
  const names = p.names && p.names.trim() !== '' ? parseImageNames(p.names.trim().replace(/^name=/, '')) : [];
  const platform = p.platform && p.platform.trim() !== '' ? parsePlatform(p.platform.trim()) : null;
  return { names, platform };
}

/** Outcomes kept for pages that reconnect after a job ended; the oldest are forgotten first. */
const KEPT_OUTCOMES = 50;

export function createImageExportHandlers(deps: ImageExportHandlerDeps): ImageExportHandlers {
  const jobs = new Map<string, { cacheId: string; controller: AbortController; done: Promise<void> }>();
  const access = deps.registry ?? (() => createRegistryAccess({ client: { env: deps.env ?? process.env } }));
  const every = deps.progressEveryMs ?? 100;
  // Latest progress and outcome per job, kept after the job ends (the oldest finished ones are forgotten).
  const states = new Map<string, { progress: ImageExportProgress | null; finished: ImageExportFinished | null }>();
  const remember = (jobId: string, patch: Partial<{ progress: ImageExportProgress; finished: ImageExportFinished }>): void => {
    states.set(jobId, { ...(states.get(jobId) ?? { progress: null, finished: null }), ...patch });
    if (patch.finished) for (const id of [...states.keys()].slice(0, Math.max(0, states.size - KEPT_OUTCOMES))) if (states.get(id)!.finished) states.delete(id);
  };

  return {
    async previewImageExport(p) {
      const opened = deps.opened(p.cacheId);
      const m = opened.model;
      const sourceHasConfig = m.variant === 'inline' && opened.texts.config !== null;
      const preview: ImageExportPreview = {
        chain: [],
        totalBytes: 0,
        targets: [],
        platform: platformText(defaultPlatform()),
        names: [],
        configOrigin: '',
        sourceHasConfig,
        destination: null,
        layerNote: null,
        error: null,
      };
      let ra: RegistryAccess | null = null;
      try {
        const { chain, targets } = selectChain(opened, selectionOf(p.selection));
        const layers = resolveImageLayers(p.options ?? {});
        preview.layerNote = layers.describe;
        preview.targets = targets;
        preview.chain = chain.map((entry, index) => {
          const blob = m.norm.layers[entry].blob;
          const d = m.descriptors.get(blob);
          const declared = d ? compressionOfMediaType(d.mediaType) : null;
          return {
            index,
            entry,
            blob,
            size: d?.size ?? 0,
            mediaType: d?.mediaType ?? '',
            diffID: d?.annotations?.[Annotation.uncompressed] ?? null,
            createdAt: d?.annotations?.[Annotation.createdAt] ?? null,
            description: d?.annotations?.[Annotation.description] ?? null,
            present: opened.present.has(blob),
            convertTo: layers.target !== null && layers.target !== declared ? layers.target : null,
          };
        });
        preview.totalBytes = preview.chain.reduce((n, l) => n + l.size, 0);
        if (p.dest && p.dest.trim() !== '') {
          const d = parseImageDestination(p.dest.trim());
          preview.destination = { kind: d.kind, label: describeImageDestination(d).label };
        }
        const { names, platform } = checked(p);
        preview.names = names.map((n) => n.full);
        // A registry push goes to each name as well: one on another registry is refused before Start.
        if (p.dest && p.dest.trim() !== '') {
          const d = parseImageDestination(p.dest.trim());
          if (d.kind === 'registry') registryNameTargets(d.reference, names);
        }
        ra = access();
        const base = await baseImageConfig(opened, configOf(p), platform, { registry: ra });
        preview.configOrigin = base.origin;
        const c = base.config;
        preview.platform = platformText({ os: String(c.os), architecture: String(c.architecture), variant: typeof c.variant === 'string' ? c.variant : undefined });
        const missing = preview.chain.find((l) => !l.present || l.mediaType === '');
        if (missing) preview.error = `layer ${missing.index} of the chain (layer entry ${missing.entry}, blob ${missing.blob}) is not available; an image needs every layer (drop-missing cannot apply)`;
      } catch (err) {
        preview.error = err instanceof Error ? err.message : String(err);
      } finally {
        ra?.close();
      }
      return preview;
    },

    async startImageExport(p) {
      const opened = deps.opened(p.cacheId);
      // The caller's mistakes are answered now rather than as a failed job.
      const selection = selectionOf(p.selection);
      selectChain(opened, selection);
      const { names, platform } = checked(p);
      const spec = parseImageDestination(p.dest.trim());
      if (spec.kind === 'registry') registryNameTargets(spec.reference, names);
      const { openSource } = describeImageDestination(spec);
      const jobId = randomUUID();
      remember(jobId, {});
      const controller = new AbortController();
      const ra = access();
      const destination: ImageDestination = spec.kind === 'registry' ? { kind: 'registry', reference: spec.reference, client: ra.client(spec.reference.registry, spec.insecure) } : spec;
      const state: ImageExportProgress = { jobId, seq: 0, layers: [], lines: [] };
      let timer: ReturnType<typeof setTimeout> | null = null;
      const send = (): void => {
        if (timer) clearTimeout(timer);
        timer = null;
        state.seq++;
        const snapshot: ImageExportProgress = { ...state, layers: state.layers.map((l) => ({ ...l })), lines: [...state.lines] };
        remember(jobId, { progress: snapshot });
        deps.emit('imageExportProgress', snapshot);
      };
      const later = (): void => {
        timer ??= setTimeout(send, every);
      };
      const done = (async () => {
        let finished: ImageExportFinished;
        try {
          const r = await exportImage(opened, {
            selection,
            destination,
            names,
            platform,
            config: configOf(p),
            configRegistry: ra,
            inlineCache: p.inlineCache ?? false,
            layerOptions: p.options ?? {},
            signal: controller.signal,
            onProgress: (line) => {
              state.lines.push(line);
              send();
            },
            onLayer: (l) => {
              const prev = state.layers[l.index];
              const next: ImageLayerProgressWire = { ...prev, ...l };
              state.layers[l.index] = next;
              if (!prev || prev.state !== l.state) send();
              else later();
            },
          });
          const outcome: ImageExportOutcome = {
            'containerimage.config.digest': r['containerimage.config.digest'],
            'containerimage.digest': r['containerimage.digest'],
            ...(r['image.name'] ? { 'image.name': r['image.name'] } : {}),
            chain: r.chain,
            diffIDs: r.diffIDs,
            layers: r.layers,
            configOrigin: r.configOrigin,
            inlineRecords: r.inlineRecords,
            warnings: r.warnings,
            openSource,
          };
          finished = { jobId, ok: true, result: outcome };
        } catch (err) {
          const e = controller.signal.aborted ? new CacheError('cancelled', 'cancelled: the image was not written') : err;
          finished = { jobId, ok: false, error: toContractError(e) };
        } finally {
          ra.close();
        }
        send();
        remember(jobId, { finished });
        deps.emit('imageExportFinished', finished);
        jobs.delete(jobId);
      })();
      jobs.set(jobId, { cacheId: p.cacheId, controller, done });
      return { jobId };
    },

    async cancelImageExport({ jobId }) {
      const job = jobs.get(jobId);
      job?.controller.abort();
      return { cancelled: job !== undefined };
    },

    async getImageExportJob({ jobId }) {
      const state = states.get(jobId);
      if (!state) throw new CacheError('not-found', `no image export job with id ${jobId}`);
      return state;
    },

    async cancelAll() {
      const running = [...jobs.values()];
      for (const j of running) j.controller.abort();
      await Promise.all(running.map((j) => j.done));
    },

    async settled(jobId) {
      await jobs.get(jobId)?.done;
    },

    async idle(cacheId) {
      await Promise.all([...jobs.values()].filter((j) => j.cacheId === cacheId).map((j) => j.done));
    },
  };
}
