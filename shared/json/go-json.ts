/**
 * A JSON writer that produces the bytes Go's `encoding/json.Marshal` produces, so that a config,
 * manifest or index written here has the digest BuildKit would give it.
 *
 * Go decides the output from the *type*, not from the value: struct fields come in declaration
 * order, `omitempty` drops zero values, a nil slice is `null`, map keys are sorted by their UTF-8
 * bytes. JS objects carry none of that, so every call takes a small schema that says what the Go type
 * is. shared/cache/serialize.ts describes each BuildKit/OCI type once with these nodes.
 *
 * Pure TypeScript: no Node, no DOM (shared/ runs in the sandboxed renderer too).
 */

/** The Go shape of a value. Build nodes with the helpers below rather than by hand. */
export type GoSchema =
  | { readonly kind: 'string' }
  | { readonly kind: 'int' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'time' }
  | { readonly kind: 'raw' }
  | { readonly kind: 'array'; readonly of: GoSchema }
  | { readonly kind: 'map'; readonly of: GoSchema }
  | { readonly kind: 'pointer'; readonly to: GoSchema }
  | { readonly kind: 'struct'; readonly fields: readonly GoField[] };

export interface GoField {
  /** The JSON key: the name in the struct tag. Also the property read from the JS object. */
  readonly name: string;
  readonly schema: GoSchema;
  readonly omitempty: boolean;
}

/** `[json key, schema, omitempty?]`, the compact way to list struct fields. */
export type GoFieldSpec = readonly [name: string, schema: GoSchema, omitempty?: boolean];

export interface GoMarshalOptions {
  /**
   * `json.Marshal` escapes `<`, `>` and `&` (SetEscapeHTML(true) is its default). Only a
   * json.Encoder with SetEscapeHTML(false) writes them raw. Default true.
   */
  escapeHTML?: boolean;
  /**
   * Go before 1.22 wrote U+0008 and U+000C as `\u0008` and `\u000c`; Go 1.22 and later write `\b` and
   * `\f`. Default false (current Go). Cache JSON never contains these characters in practice.
   */
  legacyControlEscapes?: boolean;
}

/** A value that Go could not have produced for this schema: a wrong type, a fraction, NaN... */
export class GoMarshalError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path || '(root)'}: ${message}`);
    this.name = 'GoMarshalError';
    this.path = path;
  }
}

export const goString: GoSchema = { kind: 'string' };
/** Any Go integer type (int, int64). Numbers must be safe integers; bigint is accepted too. */
export const goInt: GoSchema = { kind: 'int' };
export const goBool: GoSchema = { kind: 'bool' };
/**
 * A `time.Time`, kept as the original RFC 3339 string and copied verbatim: re-formatting through a JS
 * Date would drop nanoseconds and change the digest. A struct in Go, so `omitempty` never drops it and
 * a missing value is the zero time.
 */
export const goTime: GoSchema = { kind: 'time' };
/**
 * Any JSON value written in its JS shape (a `json.RawMessage` or `interface{}` we do not model). Object
 * keys keep JS insertion order, which matches the source text for JSON.parse output except for keys
 * that look like array indexes (JS moves those first); cache JSON has none.
 */
export const goRaw: GoSchema = { kind: 'raw' };

export function goArray(of: GoSchema): GoSchema {
  return { kind: 'array', of };
}

/** `map[string]T`: keys written in sorted order, as Go does. */
export function goMap(of: GoSchema): GoSchema {
  return { kind: 'map', of };
}

/** `*T`: nil (undefined or null) is `null`, or dropped under omitempty. */
export function goPointer(to: GoSchema): GoSchema {
  return { kind: 'pointer', to };
}

export function goStruct(fields: readonly GoFieldSpec[]): GoSchema {
  return { kind: 'struct', fields: fields.map(([name, schema, omitempty]) => ({ name, schema, omitempty: omitempty === true })) };
}

/** Go's zero time.Time as MarshalJSON writes it. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * Marshals `value` as Go would marshal a value of the schema's type: compact, no trailing newline.
 * `undefined` and `null` both stand for Go's zero value of the field's type.
 */
export function goMarshal(value: unknown, schema: GoSchema, options: GoMarshalOptions = {}): string {
  const w = new Writer(options.escapeHTML !== false, options.legacyControlEscapes === true);
  w.value(value, schema, '');
  return w.out;
}

/** A Go JSON string literal for `text`, with Go's escaping. */
export function goQuote(text: string, options: GoMarshalOptions = {}): string {
  return quote(text, options.escapeHTML !== false, options.legacyControlEscapes === true);
}

/**
 * Compares two strings the way Go compares them (`strings.Compare`, i.e. by UTF-8 bytes), which is the
 * order of Unicode code points. Plain `<` on JS strings compares UTF-16 code units, which puts
 * astral characters (surrogate pairs, 0xD800-0xDFFF) before U+E000-U+FFFF: the wrong way round. A
 * lone surrogate counts as U+FFFD, the character Go's decoder would have put there.
 */
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  // Fast path: the first difference is between two BMP characters outside the surrogate range, and the
  // unit before it is not a high surrogate, so both strings sit on a code point boundary here.
  if (!isSurrogate(x) && !isSurrogate(y) && (i === 0 || !isHighSurrogate(a.charCodeAt(i - 1)))) return x - y;
  // Slow path: restart one unit earlier when that unit is a shared high surrogate, then compare code
  // points. Everything before `start` is identical and ends on a boundary in both strings.
  const start = i > 0 && isHighSurrogate(a.charCodeAt(i - 1)) ? i - 1 : i;
  let p = start;
  let q = start;
  while (p < a.length && q < b.length) {
    const cpA = codePointAt(a, p);
    const cpB = codePointAt(b, q);
    if (cpA.cp !== cpB.cp) return cpA.cp - cpB.cp;
    p += cpA.units;
    q += cpB.units;
  }
  return (a.length - p) - (b.length - q);
}

function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function codePointAt(s: string, i: number): { cp: number; units: number } {
  const c = s.charCodeAt(i);
  if (isHighSurrogate(c) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
    return { cp: 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00), units: 2 };
  }
  return { cp: isSurrogate(c) ? 0xfffd : c, units: 1 };
}

const HEX = '0123456789abcdef';
// Everything Go may escape. Strings without any of these (all digests, media types, timestamps) take
// the fast path and are copied as they are.
const MAY_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/;

function quote(s: string, escapeHTML: boolean, legacy: boolean): string {
  if (!MAY_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c < 0x20) {
      if (c === 0x0a) esc = '\\n';
      else if (c === 0x0d) esc = '\\r';
      else if (c === 0x09) esc = '\\t';
      else if (c === 0x08 && !legacy) esc = '\\b';
      else if (c === 0x0c && !legacy) esc = '\\f';
      else esc = `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`;
    } else if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else if (c === 0x3c || c === 0x3e || c === 0x26) {
      if (escapeHTML) esc = `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`;
    } else if (c === 0x2028 || c === 0x2029) {
      // Go escapes these unconditionally (they break JSONP), whatever escapeHTML says.
      esc = c === 0x2028 ? '\\u2028' : '\\u2029';
    } else if (isHighSurrogate(c)) {
      if (i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
        i++; // a valid pair: an astral character, written as UTF-8 like any other
        continue;
      }
      esc = '\\ufffd'; // what Go writes for invalid UTF-8, which is all a lone surrogate can become
    } else if (isLowSurrogate(c)) esc = '\\ufffd';
    if (esc !== null) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return `${out}${s.slice(start)}"`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

function intText(value: unknown, path: string): string {
  if (typeof value === 'bigint') {
    if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new GoMarshalError(path, `${value} does not fit in an int64`);
    return value.toString();
  }
  if (typeof value !== 'number') throw new GoMarshalError(path, `expected an integer, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw new GoMarshalError(path, `${value} is not a number Go can marshal`);
  if (!Number.isInteger(value)) throw new GoMarshalError(path, `expected an integer, got ${value} (Go ints have no fraction)`);
  // Beyond 2^53 the number has already lost digits in JS; writing it would silently change the value.
  if (!Number.isSafeInteger(value)) throw new GoMarshalError(path, `${value} is beyond JS's exact integer range; pass a bigint`);
  return value === 0 ? '0' : String(value); // -0 is written as 0, as Go has no negative zero int
}

/** Go's isEmptyValue for the kinds that omitempty can drop. Structs (and time.Time) are never empty. */
function isEmpty(value: unknown, schema: GoSchema): boolean {
  if (value === undefined || value === null) return schema.kind !== 'struct' && schema.kind !== 'time';
  switch (schema.kind) {
    case 'string':
      return value === '';
    case 'int':
      return value === 0 || value === 0n;
    case 'bool':
      return value === false;
    case 'array':
      return Array.isArray(value) && value.length === 0;
    case 'map':
      return typeof value === 'object' && Object.keys(value as object).length === 0;
    default:
      return false;
  }
}

class Writer {
  out = '';
  constructor(
    private readonly escapeHTML: boolean,
    private readonly legacy: boolean,
  ) {}

  private str(s: string): void {
    this.out += quote(s, this.escapeHTML, this.legacy);
  }

  value(value: unknown, schema: GoSchema, path: string): void {
    const missing = value === undefined || value === null;
    switch (schema.kind) {
      case 'string':
        if (missing) this.out += '""';
        else if (typeof value !== 'string') throw new GoMarshalError(path, `expected a string, got ${describe(value)}`);
        else this.str(value);
        return;
      case 'time':
        if (missing) this.out += `"${GO_ZERO_TIME}"`;
        else if (typeof value !== 'string') throw new GoMarshalError(path, `expected a timestamp string, got ${describe(value)}`);
        else this.str(value);
        return;
      case 'int':
        this.out += missing ? '0' : intText(value, path);
        return;
      case 'bool':
        if (missing) this.out += 'false';
        else if (typeof value !== 'boolean') throw new GoMarshalError(path, `expected a boolean, got ${describe(value)}`);
        else this.out += value ? 'true' : 'false';
        return;
      case 'raw':
        this.raw(value, path);
        return;
      case 'pointer':
        if (missing) this.out += 'null';
        else this.value(value, schema.to, path);
        return;
      case 'array':
        this.array(value, schema.of, path);
        return;
      case 'map':
        this.map(value, schema.of, path);
        return;
      case 'struct':
        this.struct(missing ? {} : value, schema.fields, path);
        return;
    }
  }

  private array(value: unknown, of: GoSchema, path: string): void {
    if (value === undefined || value === null) {
      this.out += 'null'; // a nil slice
      return;
    }
    if (!Array.isArray(value)) throw new GoMarshalError(path, `expected an array, got ${describe(value)}`);
    this.out += '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) this.out += ',';
      this.value(value[i], of, `${path}[${i}]`);
    }
    this.out += ']';
  }

  private map(value: unknown, of: GoSchema, path: string): void {
    if (value === undefined || value === null) {
      this.out += 'null'; // a nil map
      return;
    }
    if (typeof value !== 'object' || Array.isArray(value)) throw new GoMarshalError(path, `expected an object (map), got ${describe(value)}`);
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort(compareGoStrings);
    this.out += '{';
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) this.out += ',';
      this.str(keys[i]);
      this.out += ':';
      this.value(obj[keys[i]], of, `${path}[${JSON.stringify(keys[i])}]`);
    }
    this.out += '}';
  }

  private struct(value: unknown, fields: readonly GoField[], path: string): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new GoMarshalError(path, `expected an object (struct), got ${describe(value)}`);
    const obj = value as Record<string, unknown>;
    this.out += '{';
    let first = true;
    for (const field of fields) {
      const v = obj[field.name];
      if (field.omitempty && isEmpty(v, field.schema)) continue;
      if (!first) this.out += ',';
      first = false;
      this.str(field.name);
      this.out += ':';
      this.value(v, field.schema, path ? `${path}.${field.name}` : field.name);
    }
    this.out += '}';
  }

  private raw(value: unknown, path: string): void {
    if (value === undefined || value === null) {
      this.out += 'null';
      return;
    }
    switch (typeof value) {
      case 'string':
        this.str(value);
        return;
      case 'boolean':
        this.out += value ? 'true' : 'false';
        return;
      case 'number':
      case 'bigint':
        // The original spelling of a fraction or exponent is gone after JSON.parse, so only integers
        // can be written back exactly.
        this.out += intText(value, path);
        return;
      case 'object':
        if (Array.isArray(value)) {
          this.out += '[';
          for (let i = 0; i < value.length; i++) {
            if (i > 0) this.out += ',';
            this.raw(value[i], `${path}[${i}]`);
          }
          this.out += ']';
          return;
        }
        {
          const obj = value as Record<string, unknown>;
          let first = true;
          this.out += '{';
          for (const key of Object.keys(obj)) {
            if (obj[key] === undefined) continue; // JSON has no undefined; JSON.stringify drops it too
            if (!first) this.out += ',';
            first = false;
            this.str(key);
            this.out += ':';
            this.raw(obj[key], `${path}.${key}`);
          }
          this.out += '}';
        }
        return;
      default:
        throw new GoMarshalError(path, `cannot marshal ${typeof value}`);
    }
  }
}
