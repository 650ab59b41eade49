/**
 * Leases: how a writer (an export today; a pull or an image export later) tells gc "keep these
 * blobs, I am about to reference them", the way containerd's leases protect content no image
 * references yet.
 *
 * A lease is `<layout>/.cachescope/leases/<id>.json`, replaced whole by rename, holding the writer's
 * process identity and the digests it holds. The protocol that makes gc safe:
 *  - a writer adds a digest to its lease (and the lease file is renamed into place) BEFORE the blob
 *    is renamed or linked into blobs/, and releases the lease only after index.json names the blobs;
 *  - gc, under index.json.lock, reads index.json, then lists blobs/, and only then reads the leases.
 * So any blob gc sees in its listing was leased before gc read the leases, or is reachable.
 *
 * A lease whose process is gone has expired: its pid is not running, or runs with another start
 * time (a recycled pid), or the machine has rebooted since. No clock decides anything. A lease
 * written on another host cannot be checked from here and is kept; delete it by hand if that host
 * is not exporting.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { asArray, asDigest, asInt, asObject, asString } from '../../../shared/cache/field-checks';
import { makeDirs, writeFileAtomic } from './atomic-file';
import { META_DIR } from './content-store';
import { pidAlive } from './file-lock';

export const LEASES_DIR = 'leases';

/** Who holds a lease: enough to tell a live process from a dead one whose pid was reused. */
export interface ProcessIdentity {
  pid: number;
  hostname: string;
  /** /proc/sys/kernel/random/boot_id (Linux); pids restart at every boot. */
  bootId: string | null;
  /** Field 22 of /proc/<pid>/stat, clock ticks after boot (Linux); null where there is no /proc. */
  startTime: string | null;
}

export interface LeaseRecord {
  id: string;
  /** What holds it, for people reading the file, e.g. `export latest`. */
  purpose: string;
  process: ProcessIdentity;
  createdAt: string;
  digests: string[];
}

export interface Lease {
  readonly id: string;
  readonly file: string;
  /** Persists `digests` in the lease; resolves once gc can see them. Call before the blobs are written or linked. */
  add(digests: Iterable<string>): Promise<void>;
  /** Removes the lease file: from now on gc treats its blobs like any others. Idempotent. */
  release(): Promise<void>;
}

export interface LiveLeases {
  /** Every digest named by a live lease. */
  digests: Set<string>;
  live: LeaseRecord[];
  /** Leases whose process is gone (removed unless the caller only reads). */
  expired: LeaseRecord[];
  /** Pids that hold a live lease, on any host: their ingest files are theirs. */
  pids: Set<number>;
}

export function leasesDir(root: string): string {
  return join(root, META_DIR, LEASES_DIR);
}

/** Start time of a process from /proc/<pid>/stat, or null where that cannot be read. */
export async function processStartTime(pid: number): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = fields[22 - 3];
  return start && /^\d+$/.test(start) ? start : null;
}

async function readBootId(): Promise<string | null> {
  try {
    const id = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    return id === '' ? null : id;
  } catch {
    return null;
  }
}

let ownIdentity: Promise<ProcessIdentity> | null = null;

export function currentProcess(): Promise<ProcessIdentity> {
  ownIdentity ??= (async () => ({ pid: process.pid, hostname: hostname(), bootId: await readBootId(), startTime: await processStartTime(process.pid) }))();
  return ownIdentity;
}

/** Why the process behind `who` is gone, or null while it may still run. */
export async function goneReason(who: ProcessIdentity): Promise<string | null> {
  const here = await currentProcess();
  if (who.hostname !== here.hostname) return null;
  if (who.bootId !== null && here.bootId !== null && who.bootId !== here.bootId) return 'the machine has restarted since';
  if (!pidAlive(who.pid)) return `pid ${who.pid} is not running`;
  if (who.startTime !== null) {
    const now = await processStartTime(who.pid);
    if (now !== null && now !== who.startTime) return `pid ${who.pid} now belongs to another process (started at tick ${now}, not ${who.startTime})`;
  }
  return null;
}

function parseLease(text: string, file: string): LeaseRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CacheError('invalid-json', `${file}: a lease file that is not JSON (${(err as Error).message}); gc cannot tell which blobs it protects. Delete it if no export is running on this folder`, { file });
  }
  const obj = asObject(value, file, '(root)', 'invalid-json');
  const proc = asObject(obj.process, file, 'process', 'invalid-json');
  const nullableString = (v: unknown, field: string) => (v === null ? null : asString(v, file, field, 'invalid-json'));
  return {
    id: asString(obj.id, file, 'id', 'invalid-json'),
    purpose: asString(obj.purpose, file, 'purpose', 'invalid-json'),
    process: {
      pid: asInt(proc.pid, file, 'process.pid', 'invalid-json', 1),
      hostname: asString(proc.hostname, file, 'process.hostname', 'invalid-json'),
      bootId: nullableString(proc.bootId, 'process.bootId'),
      startTime: nullableString(proc.startTime, 'process.startTime'),
    },
    createdAt: asString(obj.createdAt, file, 'createdAt', 'invalid-json'),
    digests: asArray(obj.digests, file, 'digests', 'invalid-json').map((d, i) => asDigest(d, file, `digests[${i}]`)),
  };
}

/** `.name.tmp-<pid>-<hex>`: what writeFileAtomic leaves behind when its process dies mid-write. */
const TEMP_NAME = /^\..*\.tmp-(\d+)-[0-9a-f]+$/;

/**
 * The leases of a layout that are still held. With `removeExpired`, lease files of gone processes
 * (and their writers' temp files) are deleted; without it nothing is written.
 */
export async function readLiveLeases(root: string, options: { removeExpired?: boolean } = {}): Promise<LiveLeases> {
  const dir = leasesDir(root);
  const out: LiveLeases = { digests: new Set(), live: [], expired: [], pids: new Set() };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return out;
    throw new CacheError('io', `cannot list ${dir}: ${code ?? (err as Error).message}`, { file: dir, ...(code ? { errno: code } : {}) });
  }
  for (const name of names.sort()) {
    const file = join(dir, name);
    const temp = TEMP_NAME.exec(name);
    if (temp) {
      if (options.removeExpired && !pidAlive(Number(temp[1]))) await unlink(file).catch(() => undefined);
      continue;
    }
    if (!name.endsWith('.json')) continue;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      const code = (err as NodeJS.ErrnoException).code;
      throw new CacheError('io', `cannot read lease ${file}: ${code ?? (err as Error).message}`, { file, ...(code ? { errno: code } : {}) });
    }
    const lease = parseLease(text, file);
    if ((await goneReason(lease.process)) !== null) {
      out.expired.push(lease);
      if (options.removeExpired) await unlink(file).catch(() => undefined);
      continue;
    }
    out.live.push(lease);
    out.pids.add(lease.process.pid);
    for (const d of lease.digests) out.digests.add(d);
  }
  return out;
}

class FileLease implements Lease {
  readonly id: string;
  readonly file: string;
  private readonly record: LeaseRecord;
  private readonly requested = new Set<string>();
  private persisted = new Set<string>();
  /** Writes run one after another; each writes everything requested so far, so bursts coalesce. */
  private queue: Promise<void> = Promise.resolve();
  private released = false;

  constructor(id: string, file: string, record: LeaseRecord) {
    this.id = id;
    this.file = file;
    this.record = record;
  }

  async write(): Promise<void> {
    if (this.released) return;
    const digests = [...this.requested];
    // Not fsynced: a lease means nothing after a power cut (its process is gone), but the rename
    // orders it before the blob's own rename for every other process.
    await writeFileAtomic(this.file, `${JSON.stringify({ ...this.record, digests }, null, 1)}\n`, { durable: false });
    this.persisted = new Set(digests);
  }

  async add(digests: Iterable<string>): Promise<void> {
    if (this.released) throw new CacheError('internal', `lease ${this.id} was already released`, { file: this.file });
    const wanted = [...digests];
    for (const d of wanted) this.requested.add(asDigest(d, this.file, 'digests'));
    if (wanted.every((d) => this.persisted.has(d))) return;
    const run = this.queue.then(() => (wanted.every((d) => this.persisted.has(d)) ? undefined : this.write()));
    this.queue = run.catch(() => undefined);
    await run;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.queue;
    await unlink(this.file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw new CacheError('io', `cannot release lease ${this.file}: ${err.code ?? err.message}`, { file: this.file });
    });
  }
}

/** Takes a new lease on the layout at `root` (creating `.cachescope/leases/`), holding nothing yet. */
export async function acquireLease(root: string, options: { purpose: string }): Promise<Lease> {
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const dir = leasesDir(root);
  const file = join(dir, `${id}.json`);
  try {
    await makeDirs(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheError('io', `cannot create ${dir}: ${code === 'EROFS' ? 'the file system is read-only' : (code ?? (err as Error).message)}`, { file: dir, ...(code ? { errno: code } : {}) });
  }
  const lease = new FileLease(id, file, { id, purpose: options.purpose, process: await currentProcess(), createdAt: new Date().toISOString(), digests: [] });
  await lease.write();
  return lease;
}
