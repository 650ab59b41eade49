/** Parsing JSON text with errors that name the file and the position, never a bare SyntaxError. */
import { CacheError } from '../contract/errors';

export interface JsonSyntaxProblem {
  /** UTF-16 offset into the text. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
  reason: string;
}

/** What the scanner expects next. */
const Want = { Value: 0, ValueOrClose: 1, Key: 2, KeyOrClose: 3, AfterValue: 4 } as const;
type Want = (typeof Want)[keyof typeof Want];

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function describeChar(text: string, i: number): string {
  if (i >= text.length) return 'end of input';
  const c = text.codePointAt(i)!;
  return c >= 0x20 && c < 0x7f ? `'${text[i]}'` : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Where and why JSON text is malformed, or null when it is well formed. Iterative (an explicit stack
 * of open containers), so 100k nested arrays cost memory, not call stack. V8's own messages are not
 * used: some carry no position and others quote the text, newlines included.
 */
export function findJsonSyntaxError(text: string): JsonSyntaxProblem | null {
  const open: number[] = []; // 0x5b '[' or 0x7b '{'
  const n = text.length;
  let i = 0;
  let want: Want = Want.Value;
  let reason = '';
  const skipWs = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      i++;
    }
  };
  /** Scans a string starting at the quote; false (with `reason` set) when it is malformed. */
  const scanString = (): boolean => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else {
          i++;
          reason = `invalid escape ${e === undefined ? 'at end of input' : describeChar(text, i)} in a string`;
          return false;
        }
        continue;
      }
      if (c < 0x20) {
        reason = `control character ${describeChar(text, i)} in a string`;
        return false;
      }
      i++;
    }
    reason = 'unterminated string';
    return false;
  };
  for (;;) {
    skipWs();
    const c = text.charCodeAt(i);
    if (want === Want.AfterValue) {
      if (open.length === 0) {
        if (i >= n) return null;
        reason = `unexpected ${describeChar(text, i)} after the JSON value`;
        break;
      }
      const top = open[open.length - 1];
      if (c === 0x2c) {
        i++;
        want = top === 0x5b ? Want.Value : Want.Key;
      } else if ((top === 0x5b && c === 0x5d) || (top === 0x7b && c === 0x7d)) {
        i++;
        open.pop();
      } else {
        reason = `expected ',' or '${top === 0x5b ? ']' : '}'}', got ${describeChar(text, i)}`;
        break;
      }
      continue;
    }
    if (want === Want.KeyOrClose || want === Want.Key) {
      if (want === Want.KeyOrClose && c === 0x7d) {
        i++;
        open.pop();
        want = Want.AfterValue;
        continue;
      }
      if (c !== 0x22) {
        reason = `expected a property name in double quotes, got ${describeChar(text, i)}`;
        break;
      }
      if (!scanString()) break;
      skipWs();
      if (text.charCodeAt(i) !== 0x3a) {
        reason = `expected ':' after a property name, got ${describeChar(text, i)}`;
        break;
      }
      i++;
      want = Want.Value;
      continue;
    }
    // Want.Value or Want.ValueOrClose
    if (want === Want.ValueOrClose && c === 0x5d) {
      i++;
      open.pop();
      want = Want.AfterValue;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      open.push(c);
      i++;
      want = c === 0x7b ? Want.KeyOrClose : Want.ValueOrClose;
      continue;
    }
    want = Want.AfterValue;
    if (c === 0x22) {
      if (!scanString()) break;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) {
        reason = `malformed number`;
        break;
      }
      i = NUMBER.lastIndex;
      continue;
    }
    const literal = text.startsWith('true', i) ? 4 : text.startsWith('null', i) ? 4 : text.startsWith('false', i) ? 5 : 0;
    if (literal === 0) {
      reason = i >= n ? 'unexpected end of input' : `unexpected ${describeChar(text, i)}, expected a value`;
      break;
    }
    i += literal;
  }
  return { offset: i, ...lineColumn(text, i), reason };
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = text.indexOf('\n'); k !== -1 && k < offset; k = text.indexOf('\n', k + 1)) {
    line++;
    lineStart = k + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/** Error messages travel as one line (CLI, logs): control characters are written as escapes. */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/**
 * Number literals JSON.parse could not keep as written (beyond 2^53, or with an exponent), by the value
 * they became: a field check that refuses such a number quotes the digits of the file, not a rounded
 * float. Bounded: it only ever serves error messages.
 */
const writtenNumbers = new Map<number, Set<string>>();
const MAX_WRITTEN_NUMBERS = 1000;

/** Outside strings, number tokens whose JavaScript value does not print back as written. Strings are skipped with indexOf, so this stays a small fraction of JSON.parse. */
function rememberInexactNumbers(text: string): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const quote = text.indexOf('"', i);
    const end = quote < 0 ? n : quote;
    for (let k = i; k < end; k++) {
      const c = text.charCodeAt(k);
      if (c !== 0x2d && (c < 0x30 || c > 0x39)) continue;
      NUMBER.lastIndex = k;
      if (!NUMBER.test(text)) continue;
      const token = text.slice(k, NUMBER.lastIndex);
      k = NUMBER.lastIndex - 1;
      // Safe integers print back as written; only long, fractional or exponent forms can differ.
      if (token.length < 16 && !/[.eE]/.test(token)) continue;
      const value = Number(token);
      if (String(value) === token) continue;
      if (writtenNumbers.size >= MAX_WRITTEN_NUMBERS) writtenNumbers.clear();
      const seen = writtenNumbers.get(value) ?? new Set<string>();
      seen.add(token);
      writtenNumbers.set(value, seen);
    }
    if (quote < 0) break;
    // Skip the string: find its closing quote, not one escaped by an odd run of backslashes.
    let j = quote + 1;
    for (;;) {
      const close = text.indexOf('"', j);
      if (close < 0) return;
      let slashes = 0;
      for (let b = close - 1; text.charCodeAt(b) === 0x5c; b--) slashes++;
      j = close + 1;
      if (slashes % 2 === 0) break;
    }
    i = j;
  }
}

/** A parsed number as its JSON text wrote it (`9007199254740993`, `1e300`), when the text was read by parseJsonText; else as JavaScript prints it. */
export function numberAsWritten(value: number): string {
  const written = writtenNumbers.get(value);
  if (!written || written.size === 0) return String(value);
  return written.size === 1 ? [...written][0] : [...written].join(' or ');
}

/** JSON.parse, or a CacheError 'invalid-json' naming the file, the line, the column and the reason. */
export function parseJsonText(text: string, file: string): unknown {
  try {
    const value = JSON.parse(text);
    rememberInexactNumbers(text);
    return value;
  } catch (err) {
    const p = findJsonSyntaxError(text);
    if (p) {
      throw new CacheError('invalid-json', `${file}: malformed JSON at line ${p.line}, column ${p.column} (character ${p.offset}): ${p.reason}`, {
        file,
        offset: p.offset,
        line: p.line,
        column: p.column,
      });
    }
    const detail = err instanceof Error ? err.message : String(err);
    throw new CacheError('invalid-json', `${file}: malformed JSON: ${oneLine(detail).slice(0, 200)}`, { file });
  }
}

/** Decodes UTF-8 bytes without TextDecoder (shared/ has no DOM or Node globals). Invalid sequences become U+FFFD, as Go's decoder makes them. */
export function decodeUtf8(bytes: Uint8Array): string {
  let out = '';
  const chunk: number[] = [];
  const flush = () => {
    out += String.fromCharCode(...chunk);
    chunk.length = 0;
  };
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    let cp = 0xfffd;
    let len = 1;
    if (b < 0x80) cp = b;
    else if (b >= 0xc2 && b < 0xe0 && i + 1 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80) {
      cp = ((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      len = 2;
    } else if (b >= 0xe0 && b < 0xf0 && i + 2 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80) {
      cp = ((b & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      len = 3;
      if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) cp = 0xfffd;
    } else if (b >= 0xf0 && b < 0xf5 && i + 3 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80 && (bytes[i + 3] & 0xc0) === 0x80) {
      cp = ((b & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
      len = 4;
      if (cp < 0x10000 || cp > 0x10ffff) cp = 0xfffd;
    }
    i += len;
    if (cp > 0xffff) {
      cp -= 0x10000;
      chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else chunk.push(cp);
    if (chunk.length > 8000) flush();
  }
  flush();
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Whole quads, then an optional padded tail: what Go's base64.StdEncoding accepts. */
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with padding, as Go marshals []byte; like Go's decoder, only CR and LF are skipped. */
export function decodeBase64(text: string, where: string): Uint8Array {
  const clean = text.replace(/[\r\n]+/g, '');
  if (!STD_BASE64.test(clean)) {
    throw new CacheError('invalid-config', `${where}: expected standard base64 with padding (Go's encoding of a byte array)`);
  }
  const pad = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((clean.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < clean.length; i += 4) {
    const n =
      (B64.indexOf(clean[i]) << 18) |
      (B64.indexOf(clean[i + 1]) << 12) |
      ((clean[i + 2] === '=' ? 0 : B64.indexOf(clean[i + 2])) << 6) |
      (clean[i + 3] === '=' ? 0 : B64.indexOf(clean[i + 3]));
    if (o < out.length) out[o++] = (n >> 16) & 0xff;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}
