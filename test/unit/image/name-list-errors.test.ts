/**
 * `name=a,b` errors say which name is wrong (docker's text alone, "invalid reference format", does
 * not), keep docker's text, and check a digest's length before its characters as go-digest does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { parseImageName, parseImageNames } from '../../../shared/image/names';

function errorOf(f: () => unknown): CacheError {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof CacheError, String(err));
    return err;
  }
  assert.fail('expected an error');
}

describe('parseImageNames: the error names the bad name and keeps docker\'s text', () => {
  it('one name', () => {
    const e = errorOf(() => parseImageNames('a b'));
    assert.equal(e.message, 'name "a b": invalid reference format');
    assert.equal(e.code, 'bad-request');
    assert.deepEqual(e.details, { field: 'name', value: 'a b' });
  });

  it('the second of two names', () => {
    assert.equal(errorOf(() => parseImageNames('alpine,Bad')).message, 'name 2 of 2 ("Bad"): invalid reference format: repository name (library/Bad) must be lowercase');
  });

  it('an empty name left by a trailing comma', () => {
    assert.equal(errorOf(() => parseImageNames('alpine,')).message, 'name 2 of 2 (""): invalid reference format');
  });

  it('a 64-hex name', () => {
    const hex = 'f'.repeat(64);
    assert.equal(errorOf(() => parseImageNames(hex)).message, `name "${hex}": invalid repository name (${hex}), cannot specify 64-byte hexadecimal strings`);
  });
});

describe('digest checks in the order go-digest makes them', () => {
  it('a wrong length is reported before bad characters', () => {
    assert.equal(errorOf(() => parseImageName(`alpine@sha256:${'A'.repeat(63)}`)).message, 'invalid checksum digest length');
    assert.equal(errorOf(() => parseImageName(`alpine@sha256:${'A'.repeat(64)}`)).message, 'invalid checksum digest format');
    assert.equal(errorOf(() => parseImageName(`alpine@sha512:${'a'.repeat(64)}`)).message, 'invalid checksum digest length');
  });
});
