/** Free loopback ports: bind port 0, read what the kernel chose, close it, and let the caller retry on EADDRINUSE. */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Listens an in-process server on a kernel-chosen loopback port (no race: the port is never released). */
export function listenLoopback(server: { listen(port: number, host: string, cb: () => void): unknown; address(): unknown; once(ev: 'error', cb: (e: Error) => void): unknown }): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as { port: number };
      resolve(address.port);
    });
  });
}
