/**
 * Go RFC3339Nano timestamps: kept as strings (JS Date would drop the nanoseconds and change the
 * digest), checked the way Go's time.Time.UnmarshalJSON checks them, ordered as BigInt nanoseconds
 * (lexical order is wrong for them: the fraction has a variable length).
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

const NANOS_PER_DAY = 86_400_000_000_000n;

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysIn(month: number, year: number): number {
  return month === 2 ? (isLeap(year) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days_from_civil). Date.UTC is not
 * used because it maps years 0–99 to 1900–1999, and Go's zero time is year 1.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Nanoseconds since the epoch, or null when Go's RFC 3339 parser would refuse the string (wrong
 * shape, a field out of range, a day the month does not have). Digits past the ninth fractional
 * one are dropped, as Go drops them.
 */
export function timestampNanos(text: string): bigint | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const zh = Number(m[10]);
    const zm = Number(m[11]);
    if (zh > 23 || zm > 59) return null;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  const seconds = BigInt(hour * 3600 + minute * 60 + second - offsetMinutes * 60);
  const frac = BigInt((m[7] ?? '').slice(0, 9).padEnd(9, '0'));
  return BigInt(daysFromCivil(year, month, day)) * NANOS_PER_DAY + seconds * 1_000_000_000n + frac;
}

/** Whether Go's time.Time would accept the string when unmarshalling JSON. */
export function isRfc3339(text: string): boolean {
  return timestampNanos(text) !== null;
}

/** Compares two timestamps by time; unparsable (and empty, i.e. absent) ones sort first. */
export function compareTimestamps(a: string, b: string): number {
  if (a === b) return 0;
  const x = timestampNanos(a);
  const y = timestampNanos(b);
  if (x === null || y === null) return x === y ? 0 : x === null ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}
