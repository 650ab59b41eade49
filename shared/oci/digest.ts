/** Digest parsing: a digest is `algorithm:hex` and is the only thing allowed to become a blob path. */

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
}

/** Why a digest string was refused, or null when it is well formed. */
export function digestProblem(value: unknown): string | null {
  if (typeof value !== 'string') return `expected a digest string, got ${describeType(value)}`;
  const colon = value.indexOf(':');
  if (colon <= 0) return `expected "algorithm:hex", got ${JSON.stringify(clip(value))}`;
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  const want = HEX_LENGTH[algorithm];
  if (want === undefined) return `unsupported digest algorithm ${JSON.stringify(clip(algorithm))} (expected sha256 or sha512)`;
  if (hex.length !== want) return `${algorithm} digest must have ${want} hex characters, got ${hex.length}`;
  if (!/^[0-9a-f]+$/.test(hex)) return `digest ${JSON.stringify(clip(value))} has characters other than lowercase hex`;
  return null;
}

export function isDigest(value: unknown): value is string {
  return digestProblem(value) === null;
}

/** Splits a digest that is known to be valid; throws on anything else so no bad string reaches a path. */
export function parseDigest(value: string): ParsedDigest {
  const problem = digestProblem(value);
  if (problem) throw new Error(`invalid digest: ${problem}`);
  const colon = value.indexOf(':');
  return { algorithm: value.slice(0, colon) as ParsedDigest['algorithm'], hex: value.slice(colon + 1) };
}

/** `sha256:abcdef123456` (12 hex) for display. */
export function shortDigest(value: string, hexChars = 12): string {
  const colon = value.indexOf(':');
  if (colon < 0) return value.slice(0, hexChars);
  return value.slice(0, colon + 1 + hexChars);
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
