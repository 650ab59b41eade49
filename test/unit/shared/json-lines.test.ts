import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FOLD_PAST_LINES, RAW_CHUNK, defaultFolds, prettyLines, rawLines, rowsOf, visibleLines } from '../../../shared/json/json-lines';
import type { JsonLines } from '../../../shared/json/json-lines';

/** Every line as the view draws it with nothing folded: indent plus text. */
function drawn(lines: JsonLines): string[] {
  const none = new Uint8Array(lines.count);
  return rowsOf(lines, visibleLines(lines, none), none, 0, lines.count).map((r) => '  '.repeat(r.depth) + r.text);
}

describe('Raw JSON line model (built in the worker)', () => {
  it('prints the same lines as JSON.stringify(…, null, 2) for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, spaced) => {
        const text = spaced ? JSON.stringify(value, null, 3) : JSON.stringify(value);
        if (text === undefined) return;
        const lines = prettyLines(text);
        assert.ok(lines, text);
        assert.deepEqual(drawn(lines), JSON.stringify(JSON.parse(text), null, 2).split('\n'));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps numbers and escapes exactly as written (JSON.parse would round 2^64 - 1)', () => {
    const lines = prettyLines('{"size":18446744073709551615,"s":"\\u003cb\\u003e \\"q\\" \\\\"}')!;
    assert.deepEqual(drawn(lines), ['{', '  "size": 18446744073709551615,', '  "s": "\\u003cb\\u003e \\"q\\" \\\\"', '}']);
  });

  it("knows each opener's close line and member count, and folds a member onto one line with its first value", () => {
    const text = JSON.stringify({ records: [{ digest: 'sha256:aa', inputs: [[]] }, { digest: 'sha256:bb' }], v: 1 });
    const lines = prettyLines(text)!;
    const all = drawn(lines);
    const records = all.indexOf('  "records": [');
    assert.equal(lines.close[records], all.indexOf('  ],'));
    assert.equal(lines.children[records], 2);
    assert.equal(lines.children[0], 2);
    const folded = new Uint8Array(lines.count);
    folded[records + 1] = 1;
    const visible = visibleLines(lines, folded);
    assert.equal(visible.length, lines.count - (lines.close[records + 1] - (records + 1)));
    const row = rowsOf(lines, visible, folded, records + 1, records + 2)[0];
    assert.equal(row.text, '{ "digest": "sha256:aa", … },');
    assert.equal(row.open, false);
    assert.equal(row.children, 2);
  });

  it('starts a large document folded below its top level, and a small one open', () => {
    const big = prettyLines(JSON.stringify({ layers: Array.from({ length: FOLD_PAST_LINES }, (_, i) => ({ blob: `sha256:${i}` })) }))!;
    const v = visibleLines(big, defaultFolds(big));
    assert.deepEqual(rowsOf(big, v, defaultFolds(big), 0, 10).map((r) => r.text), ['{', '"layers": [ … ]', '}']);
    const small = prettyLines('{"a":[1,2]}')!;
    assert.equal(visibleLines(small, defaultFolds(small)).length, small.count);
  });

  it('refuses text that is not one JSON value', () => {
    for (const bad of ['', '{', '{"a" 1}', '[1,]', '{"a":1,}', '[1] [2]', '{"a":tru}', '"open', '[}']) assert.equal(prettyLines(bad), null, bad);
  });

  it('shows text as stored in chunks, marking the continuations', () => {
    const text = `${'x'.repeat(RAW_CHUNK * 2 + 5)}\nshort`;
    const lines = rawLines(text);
    const rows = rowsOf(lines, visibleLines(lines, new Uint8Array(lines.count)), new Uint8Array(lines.count), 0, 10);
    assert.deepEqual(rows.map((r) => [r.text.length, r.continued]), [[RAW_CHUNK, false], [RAW_CHUNK, true], [5, true], [5, false]]);
    assert.equal(rows.map((r) => r.text).join(''), text.replace('\n', ''));
  });
});
