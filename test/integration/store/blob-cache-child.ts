/**
 * A separate process using the blob cache, for the multi-process tests. Prints one JSON line per event.
 *  - `get <root> <src> <digest> <size> <countFile> [stallAt gateFile]`: gets the blob through a fetcher
 *    serving <src> (stalling at byte `stallAt` until `gateFile` exists), printing progress, then
 *    `{"result": …}` and exits;
 *  - `pin <root> <digest> <now>`: pins the blob with last use `now`, prints `{"pinned": …}`, waits to be killed.
 */
import { openBlobCache } from '../../../electron/engine/store/blob-cache';
import { fileFetcher, fileGate } from '../../unit/engine/blob-cache-helpers';

const [mode, root, ...rest] = process.argv.slice(2);
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

if (mode === 'get') {
  const [src, digest, size, countFile, stallAt, gateFile] = rest;
  const cache = await openBlobCache({ root });
  const fetch = fileFetcher(src, { countFile, chunkSize: 8192, ...(stallAt ? { stallAt: Number(stallAt), gate: fileGate(gateFile) } : {}) });
  const got = await cache.get(digest, Number(size), fetch, { onProgress: (p) => say({ progress: p }) });
  say({ result: { path: got.path, outcome: got.outcome, resumedFrom: got.resumedFrom, calls: fetch.calls } });
  await got.release();
} else if (mode === 'pin') {
  const [digest, now] = rest;
  const cache = await openBlobCache({ root, now: () => Number(now) });
  await cache.pin(digest);
  say({ pinned: digest, pid: process.pid });
  // Holds the pin until killed, as an exporter linking the blob would.
  setInterval(() => undefined, 60_000);
} else {
  process.stderr.write(`blob-cache-child: unknown mode ${mode}\n`);
  process.exit(2);
}
