/** Numbers beyond 2^53 (and exponent forms) are quoted as the file wrote them, not as the float they became. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { numberAsWritten, parseJsonText } from '../../../shared/cache/json-text';
import { parseCacheConfig } from '../../../shared/cache/parse-config';
import { parseCacheManifest } from '../../../shared/cache/parse-manifest';

const BLOB = `sha256:${'a'.repeat(64)}`;

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CacheError, String(err));
    return err.message;
  }
  assert.fail('expected a refusal');
}

describe('numbers reported as written', () => {
  it('a size of 2^53 + 1 in a manifest is quoted with its own digits', () => {
    const text = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"${BLOB}","size":9007199254740993},"layers":[]}`;
    const message = refusal(() => parseCacheManifest(parseJsonText(text, 'm.json'), 'm.json'));
    assert.match(message, /config\.size: expected an integer, got 9007199254740993 \(beyond 2\^53/);
    assert.doesNotMatch(message, /9007199254740992/);
  });

  it('an exponent form and a 20-digit parent in a cache config are quoted as written', () => {
    const text = `{"layers":[{"blob":"${BLOB}","parent":1e300}],"records":[]}`;
    assert.match(refusal(() => parseCacheConfig(parseJsonText(text, 'c.json'), 'c.json')), /layers\[0\]\.parent: expected an integer, got 1e300/);
    const big = `{"layers":[{"blob":"${BLOB}","parent":-12345678901234567890}],"records":[]}`;
    assert.match(refusal(() => parseCacheConfig(parseJsonText(big, 'c.json'), 'c.json')), /got -12345678901234567890/);
  });

  it('digits inside strings are not numbers, and exact numbers print as JavaScript prints them', () => {
    parseJsonText('{"a":"9007199254740995 and 5e5","b":[1,2.5,-3]}', 'x.json');
    assert.equal(numberAsWritten(9007199254740996), '9007199254740996');
    assert.equal(numberAsWritten(2.5), '2.5');
    parseJsonText('{"s":"quote \\\\\\" 1","n":9007199254740997}', 'y.json');
    assert.equal(numberAsWritten(9007199254740996), '9007199254740997');
  });
});
