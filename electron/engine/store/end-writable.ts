import type { Writable } from 'node:stream';

/** Ends `stream` if its writer did not, and resolves once every byte is written (or rejects with its error). */
export function endAndWait(stream: Writable): Promise<void> {
  if (stream.writableFinished) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      stream.off('finish', onFinish);
      reject(err);
    };
    const onFinish = () => {
      stream.off('error', onError);
      resolve();
    };
    stream.once('error', onError);
    stream.once('finish', onFinish);
    if (!stream.writableEnded) stream.end();
  });
}
