/** A real HTTP server on 127.0.0.1 for transport tests: each test scripts its answers and reads what arrived. */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface LocalServer {
  url: string;
  host: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

export async function serve(handler: (req: IncomingMessage, res: ServerResponse, index: number) => void): Promise<LocalServer> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, seen.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A clock whose sleeps return at once and are recorded. */
export function fakeClock(start = 1_700_000_000_000) {
  const sleeps: number[] = [];
  let now = start;
  return {
    sleeps,
    advance(ms: number) {
      now += ms;
    },
    clock: {
      now: () => now,
      random: () => 0.5,
      sleep: async (ms: number, signal?: AbortSignal) => {
        if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        sleeps.push(ms);
        now += ms;
      },
    },
  };
}
