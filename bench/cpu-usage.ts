/**
 * Where a benchmark's time goes: CPU seconds of this process (or of the children it waited for, e.g.
 * skopeo) and of a registry process, read from /proc, and how busy the machine's cores were. On a
 * two-core machine both sides of a comparison share the cores with the registry, so these show
 * whether a side was short of CPU or waiting.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const HZ = 100;

/** CPU seconds so far: this process, its waited-for children (skopeo), a registry, and the machine's busy and total ticks. */
export function cpuNow(registryPid: number): { self: number; children: number; registry: number; busy: number; total: number } {
  const fields = (path: string) => readFileSync(path, 'utf8').split(') ')[1].split(' ').map(Number);
  const me = fields('/proc/self/stat');
  const reg = fields(`/proc/${registryPid}/stat`);
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const usage = process.cpuUsage();
  // Fields after the ") ": utime is the 12th, stime 13th, cutime 14th, cstime 15th (0-based 11..14).
  return { self: (usage.user + usage.system) / 1e6, children: (me[13] + me[14]) / HZ, registry: (reg[11] + reg[12]) / HZ, busy: total - cpu[3] - cpu[4], total };
}

export interface Phase {
  client: number;
  registry: number;
  busy: number;
}

export function phaseOf(a: ReturnType<typeof cpuNow>, b: ReturnType<typeof cpuNow>, client: 'self' | 'children'): Phase {
  return { client: b[client] - a[client], registry: b.registry - a.registry, busy: (b.busy - a.busy) / Math.max(1, b.total - a.total) };
}

export function phaseLine(name: string, phases: Phase[]): void {
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const client = med(phases.map((p) => p.client));
  const registry = med(phases.map((p) => p.registry));
  console.log(`  ${name.padEnd(10)} CPU per run (median): client ${client.toFixed(2)} s + registry ${registry.toFixed(2)} s = ${(client + registry).toFixed(2)} s; cores busy ${(med(phases.map((p) => p.busy)) * 100).toFixed(0)}% (all processes)`);
}

