/** Payload validation for every request, run by main and server before the engine sees anything. */
import { CacheError } from './errors';
import type { Params, RequestName } from './requests';
import type { ExportOptions } from '../export/types';
import type { ImageExportParams } from '../image/image-export-wire';

type Validator<N extends RequestName> = (raw: unknown) => Params<N>;

const MAX_STRING = 4096;

function object(raw: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CacheError('bad-request', 'params must be an object');
  }
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) throw new CacheError('bad-request', `unknown field "${key}"`);
  }
  return raw as Record<string, unknown>;
}

function str(obj: Record<string, unknown>, key: string, optional = false): string | undefined {
  const value = obj[key];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new CacheError('bad-request', `"${key}" must be a non-empty string`);
  if (value.length > MAX_STRING) throw new CacheError('bad-request', `"${key}" is longer than ${MAX_STRING} characters`);
  if (value.includes('\0')) throw new CacheError('bad-request', `"${key}" contains a NUL character`);
  return value;
}

/** A non-negative integer index (a layer entry, a record). */
function index(obj: Record<string, unknown>, key: string, optional = false): number | undefined {
  const value = obj[key];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new CacheError('bad-request', `"${key}" must be a non-negative integer`);
  return value;
}

function bool(obj: Record<string, unknown>, key: string): boolean {
  const value = obj[key];
  if (typeof value !== 'boolean') throw new CacheError('bad-request', `"${key}" must be a boolean`);
  return value;
}

/** A registry reference is at most 255 characters of name plus a 128-character tag; a little headroom, no more. */
const MAX_REPOSITORY = 512;
const MAX_TAG = 128;
/** docker's own limits are looser, but no real username or token is near these. */
const MAX_USERNAME = 256;
const MAX_PASSWORD = 16384;

/** A string field with its own length limit; the value is never quoted back (it may be a secret). */
function limited(obj: Record<string, unknown>, key: string, max: number): string {
  const value = obj[key];
  if (typeof value !== 'string' || value.length === 0) throw new CacheError('bad-request', `"${key}" must be a non-empty string`);
  if (value.length > max) throw new CacheError('bad-request', `"${key}" is longer than ${max} characters`);
  if (value.includes('\0')) throw new CacheError('bad-request', `"${key}" contains a NUL character`);
  return value;
}

/** A registry (`host[:port]`) or repository name: no white space or control characters. */
function registryName(obj: Record<string, unknown>, key: string): string {
  const value = limited(obj, key, MAX_REPOSITORY);
  if (/[\s\u0000-\u001f\u007f]/.test(value)) throw new CacheError('bad-request', `"${key}" must not contain white space or control characters`);
  return value;
}

const OPTION_KEYS = ['oci-mediatypes', 'image-manifest', 'compression', 'compression-level', 'force-compression', 'tag', 'drop-missing', 'verify'] as const;

export function validateExportOptions(raw: unknown): ExportOptions {
  const obj = object(raw, OPTION_KEYS);
  const out: ExportOptions = {};
  for (const key of ['oci-mediatypes', 'image-manifest', 'force-compression', 'drop-missing', 'verify'] as const) {
    if (obj[key] !== undefined) out[key] = bool(obj, key);
  }
  if (obj.compression !== undefined) {
    if (obj.compression !== 'uncompressed' && obj.compression !== 'gzip' && obj.compression !== 'zstd') {
      throw new CacheError('invalid-options', `unsupported compression type ${String(obj.compression)}`);
    }
    out.compression = obj.compression;
  }
  if (obj['compression-level'] !== undefined) {
    const level = obj['compression-level'];
    // Any integer, as BuildKit's ParseInt takes it; the codec's range is checked by resolveExportOptions.
    if (typeof level !== 'number' || !Number.isSafeInteger(level)) {
      throw new CacheError('invalid-options', `non-integer value ${String(level)} specified for compression-level`);
    }
    out['compression-level'] = level;
  }
  if (obj.tag !== undefined) out.tag = str(obj, 'tag');
  return out;
}

/** An image export request: selection (exactly one of record, layer, chain), names, platform, config, layer options. */
function validateImageExport(raw: unknown, destRequired: boolean): Omit<ImageExportParams, 'dest'> & { dest?: string } {
  const o = object(raw, ['cacheId', 'selection', 'dest', 'platform', 'names', 'config', 'inlineCache', 'options']);
  const sel = object(o.selection, ['record', 'layer', 'chain']);
  const keys = Object.keys(sel);
  if (keys.length !== 1) throw new CacheError('bad-request', '"selection" must have exactly one of "record", "layer" and "chain"');
  let selection: ImageExportParams['selection'];
  if (keys[0] === 'chain') {
    const chain = str(sel, 'chain')!;
    if (!/^sha256:[a-f0-9]{64}$/.test(chain)) throw new CacheError('bad-request', '"selection.chain" must be a sha256 digest');
    selection = { chain };
  } else if (keys[0] === 'record') selection = { record: index(sel, 'record')! };
  else selection = { layer: index(sel, 'layer')! };
  const out: Omit<ImageExportParams, 'dest'> & { dest?: string } = { cacheId: str(o, 'cacheId')!, selection };
  const dest = str(o, 'dest', !destRequired);
  if (dest !== undefined) out.dest = dest;
  for (const key of ['platform', 'names'] as const) {
    if (o[key] === undefined || o[key] === '') continue;
    out[key] = str(o, key);
  }
  if (o.config !== undefined && o.config !== null) {
    const c = object(o.config, ['kind', 'value']);
    if (c.kind !== 'file' && c.kind !== 'image') throw new CacheError('bad-request', '"config.kind" must be file or image');
    out.config = { kind: c.kind, value: str(c, 'value')! };
  }
  if (o.inlineCache !== undefined) out.inlineCache = bool(o, 'inlineCache');
  if (o.options !== undefined) {
    const opts = validateExportOptions(o.options);
    for (const key of Object.keys(opts)) {
      if (!['oci-mediatypes', 'compression', 'compression-level', 'force-compression'].includes(key)) throw new CacheError('invalid-options', `${key} does not apply to an image export`, { field: key });
    }
    out.options = opts;
  }
  return out;
}

const VALIDATORS: { [N in RequestName]: Validator<N> } = {
  getStartup: (raw) => (object(raw ?? {}, []), {} as Record<string, never>),
  openCache: (raw) => {
    const o = object(raw, ['source']);
    return { source: str(o, 'source')! };
  },
  closeCache: (raw) => ({ cacheId: str(object(raw, ['cacheId']), 'cacheId')! }),
  getRawJson: (raw) => {
    const o = object(raw, ['cacheId', 'what']);
    const what = o.what;
    if (what !== 'manifest' && what !== 'config' && what !== 'index') throw new CacheError('bad-request', '"what" must be manifest, config or index');
    return { cacheId: str(o, 'cacheId')!, what };
  },
  listGenerations: (raw) => ({ dir: str(object(raw, ['dir']), 'dir')! }),
  verifyCache: (raw) => ({ cacheId: str(object(raw, ['cacheId']), 'cacheId')! }),
  runGc: (raw) => {
    const o = object(raw, ['dir', 'dryRun']);
    return { dir: str(o, 'dir')!, dryRun: bool(o, 'dryRun') };
  },
  previewExport: (raw) => {
    const o = object(raw, ['cacheId', 'options', 'dest']);
    const dest = str(o, 'dest', true);
    return { cacheId: str(o, 'cacheId')!, options: validateExportOptions(o.options ?? {}), ...(dest !== undefined ? { dest } : {}) };
  },
  startExport: (raw) => {
    const o = object(raw, ['cacheId', 'dest', 'options']);
    return { cacheId: str(o, 'cacheId')!, dest: str(o, 'dest')!, options: validateExportOptions(o.options ?? {}) };
  },
  cancelExport: (raw) => ({ jobId: str(object(raw, ['jobId']), 'jobId')! }),
  getExportJob: (raw) => ({ jobId: str(object(raw, ['jobId']), 'jobId')! }),
  previewImageExport: (raw) => validateImageExport(raw, false),
  startImageExport: (raw) => validateImageExport(raw, true) as ImageExportParams,
  cancelImageExport: (raw) => ({ jobId: str(object(raw, ['jobId']), 'jobId')! }),
  getImageExportJob: (raw) => ({ jobId: str(object(raw, ['jobId']), 'jobId')! }),
  diffCaches: (raw) => {
    const o = object(raw, ['a', 'b']);
    return { a: str(o, 'a')!, b: str(o, 'b')! };
  },
  listRegistryTags: (raw) => ({ repository: registryName(object(raw, ['repository']), 'repository') }),
  deleteRegistryTag: (raw) => {
    const o = object(raw, ['repository', 'tag', 'force']);
    const tag = limited(o, 'tag', MAX_TAG);
    if (!/^[\w][\w.-]*$/.test(tag)) throw new CacheError('bad-request', '"tag" must be letters, digits, _ . - (not starting with . or -)');
    return { repository: registryName(o, 'repository'), tag, force: bool(o, 'force') };
  },
  registryLogin: (raw) => {
    const o = object(raw, ['registry', 'username', 'password']);
    return { registry: registryName(o, 'registry'), username: limited(o, 'username', MAX_USERNAME), password: limited(o, 'password', MAX_PASSWORD) };
  },
  registryLogout: (raw) => ({ registry: registryName(object(raw, ['registry']), 'registry') }),
  registryStatus: (raw) => ({ registry: registryName(object(raw, ['registry']), 'registry') }),
  openLayerFiles: (raw) => {
    const o = object(raw, ['cacheId', 'layer', 'record', 'view', 'requestId']);
    const layer = index(o, 'layer', true);
    const record = index(o, 'record', true);
    if ((layer === undefined) === (record === undefined)) throw new CacheError('bad-request', 'give exactly one of "layer" and "record"');
    const view = o.view;
    if (view !== 'entries' && view !== 'squash' && view !== 'changes') throw new CacheError('bad-request', '"view" must be entries, squash or changes');
    const requestId = str(o, 'requestId', true);
    return { cacheId: str(o, 'cacheId')!, ...(layer !== undefined ? { layer } : { record: record! }), view, ...(requestId !== undefined ? { requestId } : {}) };
  },
  cancelLayerFiles: (raw) => ({ requestId: str(object(raw, ['requestId']), 'requestId')! }),
  resultWaste: (raw) => {
    const o = object(raw, ['cacheId', 'record', 'requestId']);
    const requestId = str(o, 'requestId', true);
    return { cacheId: str(o, 'cacheId')!, record: index(o, 'record')!, ...(requestId !== undefined ? { requestId } : {}) };
  },
  divergenceFiles: (raw) => {
    const o = object(raw, ['a', 'b', 'leaf', 'requestId']);
    const requestId = str(o, 'requestId', true);
    return { a: str(o, 'a')!, b: str(o, 'b')!, leaf: index(o, 'leaf')!, ...(requestId !== undefined ? { requestId } : {}) };
  },
  attachImage: (raw) => {
    const o = object(raw, ['cacheId', 'image']);
    const image = str(o, 'image')!.trim();
    if (!image) throw new CacheError('bad-request', '"image" must be a non-empty string');
    return { cacheId: str(o, 'cacheId')!, image };
  },
  pickDirectory: (raw) => {
    const o = object(raw ?? {}, ['title']);
    const title = str(o, 'title', true);
    return title === undefined ? {} : { title };
  },
};

/** Validates a request's params; throws CacheError('bad-request') for an unknown name or a bad payload. */
export function validateParams<N extends RequestName>(name: N, raw: unknown): Params<N> {
  if (!Object.prototype.hasOwnProperty.call(VALIDATORS, name)) throw new CacheError('bad-request', `unknown request "${String(name)}"`);
  return (VALIDATORS[name] as Validator<N>)(raw);
}

export function isRequestName(name: unknown): name is RequestName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(VALIDATORS, name);
}
