/** `--registry-concurrency N` on the commands that talk to registries (export, verify, tags, image). */
import { CacheError } from '../../shared/contract/errors';
import { MAX_REGISTRY_CONCURRENCY, REGISTRY_CONCURRENCY_ENV, parseRegistryConcurrency } from '../engine/registry/concurrency-setting';

export const REGISTRY_CONCURRENCY_FLAG = '--registry-concurrency';
export const REGISTRY_CONCURRENCY_HELP = `  ${REGISTRY_CONCURRENCY_FLAG} N  requests in flight per registry host (1 to ${MAX_REGISTRY_CONCURRENCY}; default
                            ${REGISTRY_CONCURRENCY_ENV}, else 4)`;

/** The flag's value (`N` or `=N`) and the arguments without it; a missing or bad value is an error naming the flag. */
export function takeRegistryConcurrency(args: readonly string[]): { concurrency: number | undefined; rest: string[] } {
  let concurrency: number | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === REGISTRY_CONCURRENCY_FLAG) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('-')) throw new CacheError('bad-request', `${REGISTRY_CONCURRENCY_FLAG} needs a number (1 to ${MAX_REGISTRY_CONCURRENCY})`, { field: REGISTRY_CONCURRENCY_FLAG });
      concurrency = parseRegistryConcurrency(v, REGISTRY_CONCURRENCY_FLAG);
      i++;
    } else if (a.startsWith(`${REGISTRY_CONCURRENCY_FLAG}=`)) {
      concurrency = parseRegistryConcurrency(a.slice(REGISTRY_CONCURRENCY_FLAG.length + 1), REGISTRY_CONCURRENCY_FLAG);
    } else rest.push(a);
  }
  return { concurrency, rest };
}
