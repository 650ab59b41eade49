/**
 * Go JSON writer behaviour that mutation testing (npm run mutate) found untested: zero values of every
 * kind, omitempty on every kind, int64 bounds, the error texts and paths, the options through
 * goMarshal, and Go's string order on strings with surrogate halves (checked against UTF-8 bytes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compareGoStrings,
  goArray,
  goBool,
  goInt,
  goMap,
  goMarshal,
  GoMarshalError,
  goPointer,
  goRaw,
  goString,
  goStruct,
  goTime,
} from '../../../shared/json/go-json';
import type { GoSchema } from '../../../shared/json/go-json';

/** Asserts goMarshal throws a GoMarshalError with this exact message and path. */
function refuses(value: unknown, schema: GoSchema, message: string, path = ''): void {
  assert.throws(
    () => goMarshal(value, schema),
    (err: unknown) => {
      assert.ok(err instanceof GoMarshalError, String(err));
      assert.equal(err.name, 'GoMarshalError');
      assert.equal(err.message, message);
      assert.equal(err.path, path);
      return true;
    },
  );
}

describe('zero values: a missing field is what Go writes for its type', () => {
  const schema = goStruct([
    ['s', goString],
    ['i', goInt],
    ['b', goBool],
    ['t', goTime],
    ['a', goArray(goString)],
    ['m', goMap(goString)],
    ['p', goPointer(goString)],
    ['st', goStruct([['x', goInt]])],
    ['r', goRaw],
  ]);
  const ZERO = '{"s":"","i":0,"b":false,"t":"0001-01-01T00:00:00Z","a":null,"m":null,"p":null,"st":{"x":0},"r":null}';

  it('undefined and null fields alike', () => {
    assert.equal(goMarshal({}, schema), ZERO);
    const nulls = Object.fromEntries(['s', 'i', 'b', 't', 'a', 'm', 'p', 'st', 'r'].map((k) => [k, null]));
    assert.equal(goMarshal(nulls, schema), ZERO);
    assert.equal(goMarshal(undefined, schema), ZERO);
  });

  it('top-level values of each kind', () => {
    assert.equal(goMarshal(undefined, goString), '""');
    assert.equal(goMarshal(null, goBool), 'false');
    assert.equal(goMarshal(true, goBool), 'true');
    assert.equal(goMarshal(false, goBool), 'false');
    assert.equal(goMarshal(null, goPointer(goInt)), 'null');
    assert.equal(goMarshal(7, goPointer(goInt)), '7');
    assert.equal(goMarshal(undefined, goRaw), 'null');
    assert.equal(goMarshal(null, goRaw), 'null');
  });
});

describe('omitempty drops exactly what Go isEmptyValue calls empty', () => {
  const schema = goStruct([
    ['s', goString, true],
    ['i', goInt, true],
    ['b', goBool, true],
    ['a', goArray(goInt), true],
    ['m', goMap(goInt), true],
    ['p', goPointer(goInt), true],
    // A struct (and time.Time, a struct in Go) is never empty: omitempty keeps it.
    ['st', goStruct([['x', goInt, true]]), true],
    ['t', goTime, true],
  ]);

  it('zero values dropped; structs and times kept', () => {
    assert.equal(goMarshal({ s: '', i: 0, b: false, a: [], m: {}, p: null }, schema), '{"st":{},"t":"0001-01-01T00:00:00Z"}');
    assert.equal(goMarshal({ i: 0n }, schema), '{"st":{},"t":"0001-01-01T00:00:00Z"}');
  });

  it('non-zero values kept', () => {
    assert.equal(
      goMarshal({ s: 'x', i: -1, b: true, a: [0], m: { k: 0 }, p: 0, st: { x: 1 }, t: '2026-01-01T00:00:00.123456789Z' }, schema),
      '{"s":"x","i":-1,"b":true,"a":[0],"m":{"k":0},"p":0,"st":{"x":1},"t":"2026-01-01T00:00:00.123456789Z"}',
    );
    assert.equal(goMarshal({ i: 5n }, goStruct([['i', goInt, true]])), '{"i":5}');
  });

  it('a wrong type under omitempty is refused, not dropped as empty', () => {
    refuses({ m: 5 }, goStruct([['m', goMap(goInt), true]]), 'm: expected an object (map), got number 5', 'm');
    refuses({ a: 5 }, goStruct([['a', goArray(goInt), true]]), 'a: expected an array, got number 5', 'a');
  });
});

describe('integers', () => {
  it('int64 bounds for bigint, -0 as 0', () => {
    assert.equal(goMarshal(2n ** 63n - 1n, goInt), '9223372036854775807');
    assert.equal(goMarshal(-(2n ** 63n), goInt), '-9223372036854775808');
    refuses(2n ** 63n, goInt, '(root): 9223372036854775808 does not fit in an int64');
    refuses(-(2n ** 63n) - 1n, goInt, '(root): -9223372036854775809 does not fit in an int64');
    assert.equal(goMarshal(-0, goInt), '0');
    assert.equal(goMarshal(0, goInt), '0');
  });

  it('refuses what Go could not have written, saying why', () => {
    refuses('1', goInt, '(root): expected an integer, got string "1"');
    refuses(Infinity, goInt, '(root): Infinity is not a number Go can marshal');
    refuses(NaN, goInt, '(root): NaN is not a number Go can marshal');
    refuses(1.5, goInt, '(root): expected an integer, got 1.5 (Go ints have no fraction)');
    refuses(2 ** 53, goInt, "(root): 9007199254740992 is beyond JS's exact integer range; pass a bigint");
  });

  it('raw values: integers (number or bigint) written, fractions refused', () => {
    assert.equal(goMarshal({ n: 3, big: 2n ** 60n, neg: -4 }, goRaw), '{"n":3,"big":1152921504606846976,"neg":-4}');
    refuses([1, 1.5], goRaw, '[1]: expected an integer, got 1.5 (Go ints have no fraction)', '[1]');
    refuses({ a: { b: 0.25 } }, goRaw, '.a.b: expected an integer, got 0.25 (Go ints have no fraction)', '.a.b');
  });
});

describe('wrong shapes: the error names the path and what was found', () => {
  it('each kind', () => {
    refuses(5, goString, '(root): expected a string, got number 5');
    refuses(5, goTime, '(root): expected a timestamp string, got number 5');
    refuses('yes', goBool, '(root): expected a boolean, got string "yes"');
    refuses(1, goBool, '(root): expected a boolean, got number 1');
    refuses({}, goArray(goInt), '(root): expected an array, got an object');
    refuses('x', goArray(goInt), '(root): expected an array, got string "x"');
    refuses([], goMap(goInt), '(root): expected an object (map), got an array');
    refuses('x', goMap(goInt), '(root): expected an object (map), got string "x"');
    refuses([], goStruct([]), '(root): expected an object (struct), got an array');
    refuses('x', goStruct([]), '(root): expected an object (struct), got string "x"');
    refuses(() => 0, goRaw, '(root): cannot marshal function');
    refuses(Symbol('s'), goRaw, '(root): cannot marshal symbol');
  });

  it('paths through fields, array items and map keys', () => {
    const schema = goStruct([['outer', goStruct([['list', goArray(goMap(goInt))]])]]);
    refuses({ outer: { list: [{}, { 'k"1': 'x' }] } }, schema, 'outer.list[1]["k\\"1"]: expected an integer, got string "x"', 'outer.list[1]["k\\"1"]');
    refuses({ outer: 'x' }, schema, 'outer: expected an object (struct), got string "x"', 'outer');
  });

  it('raw objects skip undefined members, as JSON.stringify does', () => {
    assert.equal(goMarshal({ a: undefined, b: 1, c: [true, null, 'x'] }, goRaw), '{"b":1,"c":[true,null,"x"]}');
  });
});

describe('options through goMarshal', () => {
  it('escapeHTML false and legacyControlEscapes reach every string', () => {
    const schema = goStruct([['s', goString]]);
    assert.equal(goMarshal({ s: '\b<' }, schema), '{"s":"\\b\\u003c"}');
    assert.equal(goMarshal({ s: '\b<' }, schema, { escapeHTML: false }), '{"s":"\\b<"}');
    assert.equal(goMarshal({ s: '\b\f<' }, schema, { legacyControlEscapes: true }), '{"s":"\\u0008\\u000c\\u003c"}');
    assert.equal(goMarshal({ s: '\f' }, schema, { legacyControlEscapes: false }), '{"s":"\\f"}');
  });
});

describe('compareGoStrings: Go (UTF-8 byte) order, lone surrogates as U+FFFD', () => {
  const utf8Order = (a: string, b: string) => Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));

  it('cases at the surrogate boundaries', () => {
    const cases: [string, string][] = [
      ['\uffff', '\u{10000}'],
      ['\ue000', '\ue001'],
      ['\ue000', '\udfff'],
      ['\udfff', '\ue000'],
      ['\ud800', '\ufffd'],
      ['\ud800', '\ufffdz'],
      ['\ufffdz', '\ud800'],
      ['\ud800', '\ufffe'],
      ['\ud800', '\ufffc'],
      ['\u{10000}', '\u{10001}'],
      ['\u{1F600}', '\u{1F4A9}'],
      ['x\u{10000}', 'x\uffff'],
      ['\ud800a', '\ud800b'],
      ['\udc00', '\ud800\udc00'],
      ['a\udc00', 'a\udc01'],
      ['\u{10000}a', '\u{10000}'],
    ];
    for (const [a, b] of cases) {
      assert.equal(Math.sign(compareGoStrings(a, b)), utf8Order(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      assert.equal(Math.sign(compareGoStrings(b, a)), utf8Order(b, a), `${JSON.stringify(b)} vs ${JSON.stringify(a)}`);
    }
  });

  it('property: agrees with UTF-8 bytes on strings made of surrogate halves and their neighbours', () => {
    const unit = fc.constantFrom('a', 'b', '\u00e9', '\ud7ff', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d', '\ude00', '\ue000', '\ufffc', '\ufffd', '\ufffe', '\uffff');
    const str = fc.array(unit, { maxLength: 5 }).map((u) => u.join(''));
    fc.assert(
      fc.property(str, str, str, (prefix, a, b) => {
        assert.equal(Math.sign(compareGoStrings(prefix + a, prefix + b)), utf8Order(prefix + a, prefix + b));
      }),
      { numRuns: 3000, seed: 8 },
    );
  });

  it('map keys are written in that order', () => {
    assert.equal(goMarshal({ '\u{10000}': 1, '\uffff': 2, b: 3, a: 4 }, goMap(goInt)), '{"a":4,"b":3,"\uffff":2,"\u{10000}":1}');
  });
});
