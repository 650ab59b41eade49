/**
 * The line model of the Raw JSON view, built off the page (in the renderer's JSON worker): a pretty-printed
 * view of a JSON text as a table of source ranges, with the matching close line of every opener,
 * so folding and paging never materialise millions of strings. Pure: no DOM, no worker API.
 *
 * Pretty lines are re-indented from the text as written: strings and numbers are copied verbatim,
 * so a number beyond 2^53 or an escape like \u003c shows exactly as stored (JSON.parse would not).
 */

/** A pretty line longer than this (a huge string value) is cut for display; the download has it all. */
export const MAX_LINE_CHARS = 4000;
/** The as-stored view cuts lines into chunks this wide (Go writes a whole config on one line). */
export const RAW_CHUNK = 160;
/** Past this many pretty lines, everything below the top level starts folded. */
export const FOLD_PAST_LINES = 10_000;

export interface JsonLines {
  readonly text: string;
  /** true: pretty lines of valid JSON; false: the text as stored, in chunks. */
  readonly pretty: boolean;
  readonly count: number;
  /** Source range of each line: [start, end). */
  readonly start: Uint32Array;
  readonly end: Uint32Array;
  readonly depth: Uint32Array;
  /** For an opener line (`"key": {`), the index of its close line; otherwise -1. */
  readonly close: Int32Array;
  /** For an opener line, how many members or elements it holds; for a raw chunk, 1 when it continues the previous one. */
  readonly children: Uint32Array;
}

/** Growable columns; lines arrive in order. */
class Table {
  count = 0;
  start = new Uint32Array(1024);
  end = new Uint32Array(1024);
  depth = new Uint32Array(1024);
  close = new Int32Array(1024);
  children = new Uint32Array(1024);

  push(start: number, end: number, depth: number): number {
    if (this.count === this.start.length) this.grow();
    const k = this.count++;
    this.start[k] = start;
    this.end[k] = end;
    this.depth[k] = depth;
    this.close[k] = -1;
    this.children[k] = 0;
    return k;
  }

  private grow(): void {
    const size = this.start.length * 2;
    const more = <A extends Uint32Array | Int32Array>(a: A, make: new (n: number) => A): A => {
      const b = new make(size);
      b.set(a);
      return b;
    };
    this.start = more(this.start, Uint32Array);
    this.end = more(this.end, Uint32Array);
    this.depth = more(this.depth, Uint32Array);
    this.close = more(this.close, Int32Array);
    this.children = more(this.children, Uint32Array);
  }

  done(text: string, pretty: boolean): JsonLines {
    const n = this.count;
    return { text, pretty, count: n, start: this.start.slice(0, n), end: this.end.slice(0, n), depth: this.depth.slice(0, n), close: this.close.slice(0, n), children: this.children.slice(0, n) };
  }
}

const enum Expect {
  Value,
  Key,
  Colon,
  CommaOrEnd,
  Done,
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LITERAL = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)$/;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Ends a literal or number: whitespace or a structural character. */
function endsLiteral(c: number): boolean {
  return isSpace(c) || c === 0x2c || c === 0x5d || c === 0x7d || c === 0x3a || c === 0x5b || c === 0x7b || c === QUOTE;
}

/** Index just past the closing quote of the string opening at `i`, or -1 when it never closes. */
function stringEnd(text: string, i: number): number {
  let q = i;
  for (;;) {
    q = text.indexOf('"', q + 1);
    if (q < 0) return -1;
    let k = q - 1;
    while (text.charCodeAt(k) === BACKSLASH) k--;
    // An odd run of backslashes escapes this quote.
    if ((q - 1 - k) % 2 === 0) return q + 1;
  }
}

/**
 * Pretty lines of a JSON text (2-space indent, one member or element per line), or null when the
 * text is not one JSON value. `onProgress` gets the share of the text done, now and then.
 */
export function prettyLines(text: string, onProgress?: (done: number) => void): JsonLines | null {
  const t = new Table();
  const n = text.length;
  const stack: { object: boolean; line: number; commas: number }[] = [];
  let state: Expect = Expect.Value as Expect;
  let lineStart = -1;
  let lineDepth = 0;
  let lastEnd = 0;
  let i = 0;
  const step = 1 << 20;
  let report = step;
  const begin = (at: number) => {
    if (lineStart < 0) {
      lineStart = at;
      lineDepth = stack.length;
    }
  };
  const endLine = (at: number): number => {
    const k = t.push(lineStart, at, lineDepth);
    lineStart = -1;
    return k;
  };
  while (i < n) {
    if (onProgress && i >= report) {
      onProgress(i / n);
      report = i + step;
    }
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (state === Expect.Done) return null;
    if (c === QUOTE) {
      if (state !== Expect.Value && state !== Expect.Key) return null;
      begin(i);
      const e = stringEnd(text, i);
      if (e < 0) return null;
      i = lastEnd = e;
      if (state === Expect.Key) state = Expect.Colon;
      else state = stack.length === 0 ? Expect.Done : Expect.CommaOrEnd;
    } else if (c === 0x3a /* : */) {
      if (state !== Expect.Colon) return null;
      i++;
      state = Expect.Value;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (state !== Expect.Value) return null;
      begin(i);
      const closer = c === 0x7b ? 0x7d : 0x5d;
      let j = i + 1;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) === closer) {
        i = lastEnd = j + 1;
        state = stack.length === 0 ? Expect.Done : Expect.CommaOrEnd;
        continue;
      }
      const line = endLine(i + 1);
      stack.push({ object: c === 0x7b, line, commas: 0 });
      i++;
      state = c === 0x7b ? Expect.Key : Expect.Value;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      const top = stack[stack.length - 1];
      if (state !== Expect.CommaOrEnd || !top || top.object !== (c === 0x7d)) return null;
      if (lineStart >= 0) endLine(lastEnd);
      stack.pop();
      t.close[top.line] = t.count;
      t.children[top.line] = top.commas + 1;
      begin(i);
      i = lastEnd = i + 1;
      state = stack.length === 0 ? Expect.Done : Expect.CommaOrEnd;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (state !== Expect.CommaOrEnd || !top) return null;
      i++;
      endLine(i);
      top.commas++;
      state = top.object ? Expect.Key : Expect.Value;
    } else {
      if (state !== Expect.Value) return null;
      begin(i);
      let j = i + 1;
      while (j < n && !endsLiteral(text.charCodeAt(j))) j++;
      if (!LITERAL.test(text.slice(i, j))) return null;
      i = lastEnd = j;
      state = stack.length === 0 ? Expect.Done : Expect.CommaOrEnd;
    }
  }
  if (state !== Expect.Done) return null;
  if (lineStart >= 0) endLine(lastEnd);
  return t.done(text, true);
}

/** The text as stored: its own lines, each cut into chunks of `width` characters. */
export function rawLines(text: string, width = RAW_CHUNK): JsonLines {
  const t = new Table();
  let from = 0;
  for (;;) {
    const nl = text.indexOf('\n', from);
    const stop = nl < 0 ? text.length : nl;
    let at = from;
    do {
      const k = t.push(at, Math.min(stop, at + width), 0);
      if (at > from) t.children[k] = 1;
      at += width;
    } while (at < stop);
    if (nl < 0) break;
    from = nl + 1;
  }
  return t.done(text, false);
}

/** One pretty line as shown: insignificant whitespace dropped, `: ` after keys; cut past MAX_LINE_CHARS. */
function normalize(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source.charCodeAt(i);
    if (c === QUOTE) {
      const e = stringEnd(source, i);
      const stop = e < 0 ? source.length : e;
      out += source.slice(i, stop);
      i = stop;
    } else if (isSpace(c)) {
      i++;
    } else if (c === 0x3a) {
      out += ': ';
      i++;
    } else {
      let j = i + 1;
      while (j < source.length && source.charCodeAt(j) !== QUOTE && source.charCodeAt(j) !== 0x3a && !isSpace(source.charCodeAt(j))) j++;
      out += source.slice(i, j);
      i = j;
    }
  }
  return out;
}

/** The text of line `k` without indent; `cut` counts the characters left out of a very long line. */
export function lineText(lines: JsonLines, k: number): { text: string; cut: number } {
  const start = lines.start[k];
  const end = lines.end[k];
  const stop = Math.min(end, start + MAX_LINE_CHARS);
  const source = lines.text.slice(start, stop);
  return { text: lines.pretty ? normalize(source) : source, cut: end - stop };
}

/** Every opener at `fromDepth` or deeper folded: what a large document shows first. */
export function foldedFrom(lines: JsonLines, fromDepth: number): Uint8Array {
  const folded = new Uint8Array(lines.count);
  for (let k = 0; k < lines.count; k++) if (lines.close[k] >= 0 && lines.depth[k] >= fromDepth) folded[k] = 1;
  return folded;
}

/** The folds a document opens with: none when small, everything below the top level past FOLD_PAST_LINES. */
export function defaultFolds(lines: JsonLines): Uint8Array {
  return lines.pretty && lines.count > FOLD_PAST_LINES ? foldedFrom(lines, 1) : new Uint8Array(lines.count);
}

/** The lines left in view by `folded`: a folded opener stands for itself and everything up to its close line. */
export function visibleLines(lines: JsonLines, folded: Uint8Array): Int32Array {
  const out = new Int32Array(lines.count);
  let n = 0;
  for (let k = 0; k < lines.count; ) {
    out[n++] = k;
    k = folded[k] && lines.close[k] >= 0 ? lines.close[k] + 1 : k + 1;
  }
  return out.slice(0, n);
}

/** One row of the view, as the page draws it. */
export interface JsonRow {
  /** 0-based line of the full document. */
  line: number;
  depth: number;
  text: string;
  /** Characters of a very long line left out of `text`. */
  cut: number;
  /** null: not foldable; true: open; false: folded (then `text` holds the whole member on one line). */
  open: boolean | null;
  children: number;
  /** For an opener of an array: elements; of an object: members. */
  array: boolean;
  /** An as-stored chunk that continues the previous one. */
  continued: boolean;
}

const PREVIEW_CHARS = 120;

/** Rows `from`..`to` (exclusive) of the visible lines. */
export function rowsOf(lines: JsonLines, visible: Int32Array, folded: Uint8Array, from: number, to: number): JsonRow[] {
  const rows: JsonRow[] = [];
  for (let v = Math.max(0, from); v < Math.min(to, visible.length); v++) {
    const k = visible[v];
    const { text, cut } = lineText(lines, k);
    const opener = lines.close[k] >= 0;
    const array = opener && text.endsWith('[');
    let shown = text;
    if (opener && folded[k]) {
      const closeText = lineText(lines, lines.close[k]).text;
      // An object shows its first member when that is a plain value: a record shows its digest.
      let preview = '';
      if (!array && k + 1 < lines.count && lines.close[k + 1] < 0) {
        const first = lineText(lines, k + 1).text.replace(/,$/, '');
        preview = ` ${first.length > PREVIEW_CHARS ? `${first.slice(0, PREVIEW_CHARS)}…` : first},`;
      }
      shown = `${text}${preview} … ${closeText}`;
    }
    rows.push({ line: k, depth: lines.depth[k], text: shown, cut, open: opener ? !folded[k] : null, children: opener ? lines.children[k] : 0, array, continued: !lines.pretty && lines.children[k] === 1 });
  }
  return rows;
}
