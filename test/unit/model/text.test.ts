/** The small text pieces under the model: Go timestamps, JSON error positions, base64 as Go writes it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { decodeBase64, decodeUtf8, findJsonSyntaxError, oneLine, parseJsonText } from '../../../shared/cache/json-text';
import { compareTimestamps, isRfc3339, timestampNanos } from '../../../shared/cache/time';

describe('Go RFC 3339 timestamps', () => {
  it('nanoseconds since the epoch, fraction digits past the ninth dropped, offsets applied', () => {
    assert.equal(timestampNanos('1970-01-01T00:00:00Z'), 0n);
    assert.equal(timestampNanos('2026-05-19T05:13:39.09772643Z'), 1779167619097726430n);
    assert.equal(timestampNanos('1970-01-01T00:00:00.1234567891Z'), 123456789n);
    assert.equal(timestampNanos('1970-01-01T01:00:00+01:00'), 0n);
    assert.equal(timestampNanos('1969-12-31T23:59:59-00:00'), -1_000_000_000n);
  });

  it("Go's zero time (year 1) and years below 100 are not Date.UTC's 1900s", () => {
    assert.equal(timestampNanos('0001-01-01T00:00:00Z'), -62135596800_000_000_000n);
    assert.equal(timestampNanos('0099-12-31T23:59:59Z')! < timestampNanos('0100-01-01T00:00:00Z')!, true);
  });

  it("refuses what Go's time.Time refuses", () => {
    for (const bad of ['', 'now', '2026-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T00:60:00Z', '2024-01-01t00:00:00Z', '2024-01-01T00:00:00', '2024-01-01T00:00:00+24:00', '2024-01-01T00:00:00.Z', '24-01-01T00:00:00Z']) {
      assert.equal(isRfc3339(bad), false, bad);
    }
    assert.equal(isRfc3339('2024-02-29T00:00:00Z'), true);
  });

  it('orders by instant, not by string; unparsable first', () => {
    assert.equal(compareTimestamps('2026-01-01T00:00:00.9Z', '2026-01-01T00:00:00.10Z'), 1);
    assert.equal(compareTimestamps('2026-01-01T01:00:00+01:00', '2026-01-01T00:00:00Z'), 0);
    assert.equal(compareTimestamps('', '0001-01-01T00:00:00Z'), -1);
  });
});

describe('JSON errors', () => {
  it('name the file, the line, the column and why, on one line', () => {
    assert.throws(
      () => parseJsonText('{\n  "layers": [1,\n  ]\n}', 'x.json'),
      (err: unknown) =>
        err instanceof CacheError &&
        err.code === 'invalid-json' &&
        err.message === "x.json: malformed JSON at line 3, column 3 (character 20): unexpected ']', expected a value" &&
        err.details?.line === 3,
    );
  });

  it('find the first problem in text V8 words differently or quotes with newlines', () => {
    assert.deepEqual(findJsonSyntaxError('{"a":\n}'), { offset: 6, line: 2, column: 1, reason: "unexpected '}', expected a value" });
    assert.equal(findJsonSyntaxError('[1,2')?.reason, "expected ',' or ']', got end of input");
    assert.equal(findJsonSyntaxError('{"a":1}x')?.reason, "unexpected 'x' after the JSON value");
    assert.equal(findJsonSyntaxError('"\u0001"')?.reason, 'control character U+0001 in a string');
    assert.equal(findJsonSyntaxError('{"a":[1,{"b":null}],"c":"\\u00e9"}'), null);
  });

  it('scan 100k nested arrays without recursion', () => {
    assert.equal(findJsonSyntaxError(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), null);
    assert.equal(findJsonSyntaxError(`${'['.repeat(100_000)}${']'.repeat(99_999)}`)?.offset, 199_999);
  });

  it('oneLine escapes control characters', () => {
    assert.equal(oneLine('a\nb\r\tc\u2028'), 'a\\nb\\r\\tc\\u2028');
  });
});

describe("base64 and UTF-8 as Go's encoding/json writes them", () => {
  it('decodes standard padded base64, skipping only CR and LF', () => {
    assert.equal(decodeUtf8(decodeBase64('aGVsbG8=', 'w')), 'hello');
    assert.equal(decodeUtf8(decodeBase64('aGVs\r\nbG8=', 'w')), 'hello');
    assert.equal(decodeUtf8(decodeBase64('', 'w')), '');
  });

  it('refuses what Go refuses', () => {
    for (const bad of ['aGVsbG8', 'aGVs bG8=', 'A===', 'aG=sbG8=', 'aGVsbG8-', '====']) {
      assert.throws(() => decodeBase64(bad, 'config.json: moby.buildkit.cache.v0'), (err: unknown) => err instanceof CacheError && err.code === 'invalid-config' && err.message.startsWith('config.json: moby.buildkit.cache.v0: '), bad);
    }
  });

  it('replaces invalid UTF-8 with U+FFFD', () => {
    assert.equal(decodeUtf8(new Uint8Array([0x61, 0xff, 0xc3, 0xa9, 0xe2, 0x82])), 'a\ufffdé\ufffd\ufffd');
    assert.equal(decodeUtf8(new Uint8Array([0xf0, 0x9f, 0x98, 0x80])), '😀');
  });
});
