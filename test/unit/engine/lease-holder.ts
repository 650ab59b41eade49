/**
 * A separate process that holds a lease, for the lease and gc tests: `lease-holder.ts <layout> [digest…]`
 * takes a lease on <layout>, adds the digests, prints the lease file's path and waits to be killed.
 */
import { acquireLease } from '../../../electron/engine/store/leases';

const [dir, ...digests] = process.argv.slice(2);
const lease = await acquireLease(dir, { purpose: 'test holder' });
await lease.add(digests);
process.stdout.write(`${lease.file}\n`);
// Stays alive until the test kills it, as an export would while it converts.
setInterval(() => undefined, 60_000);
