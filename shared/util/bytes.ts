/** Byte counts for people: IEC units (KiB, MiB) for sizes, SI units (kB, MB) for explanation prose. */

function scale(n: number, base: number, units: string[]): string {
  let v = n;
  let u = -1;
  do {
    v /= base;
    u++;
  } while (v >= base && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n < 1024 ? `${n} B` : scale(n, 1024, ['KiB', 'MiB', 'GiB', 'TiB']);
}

export function formatBytesSI(n: number): string {
  if (n < 1000) return `${n} B`;
  let v = n;
  let u = -1;
  const units = ['kB', 'MB', 'GB', 'TB'];
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}
