import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PATH_ENV, emptyImageConfig, historyOf, parseImageConfig, patchImageConfig } from '../../../shared/image/image-config';

describe('emptyImageConfig', () => {
  it('is BuildKit\'s empty config: platform, default PATH, WorkingDir /, rootfs layers with null diff_ids', () => {
    assert.equal(
      emptyImageConfig({ os: 'linux', architecture: 'amd64' }),
      `{"architecture":"amd64","os":"linux","config":{"Env":["PATH=${DEFAULT_PATH_ENV}"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":null}}`,
    );
  });
  it('carries the variant', () => {
    const c = JSON.parse(emptyImageConfig({ os: 'linux', architecture: 'arm', variant: 'v7' }));
    assert.equal(c.variant, 'v7');
  });
});

describe('patchImageConfig', () => {
  const base = parseImageConfig(emptyImageConfig({ os: 'linux', architecture: 'amd64' }), 'empty');
  it('sets rootfs and history, sorts the keys as a Go map, sets created from the last history entry', () => {
    const text = patchImageConfig(base, { diffIDs: ['sha256:' + 'a'.repeat(64)], history: [{ created: '2026-01-01T00:00:00Z', comment: 'c' }], inlineCacheBase64: null });
    assert.equal(
      text,
      `{"architecture":"amd64","config":{"Env":["PATH=${DEFAULT_PATH_ENV}"],"WorkingDir":"/"},"created":"2026-01-01T00:00:00Z","history":[{"created":"2026-01-01T00:00:00Z","comment":"c"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:${'a'.repeat(64)}"]}}`,
    );
  });
  it('keeps an existing created and writes the inline cache key', () => {
    const c = JSON.parse(patchImageConfig({ ...base, created: '2000-01-01T00:00:00Z' }, { diffIDs: [], history: [], inlineCacheBase64: 'W10=' }));
    assert.equal(c.created, '2000-01-01T00:00:00Z');
    assert.equal(c['moby.buildkit.cache.v0'], 'W10=');
    assert.equal(c.history, null);
  });
});

describe('parseImageConfig errors: a config that is not an image config', () => {
  const cases: [string, RegExp][] = [
    ['not json', /f\.json: not an image config: not JSON/],
    ['[]', /f\.json: not an image config: expected a JSON object/],
    ['{"layers":[],"records":[]}', /this is a cache config/],
    ['{"schemaVersion":2,"manifests":[]}', /this is a manifest or index/],
    ['{"architecture":"amd64"}', /os: expected a non-empty string, got nothing/],
    ['{"os":"linux","architecture":7}', /architecture: expected a non-empty string, got 7/],
    ['{"os":"linux","architecture":"amd64","rootfs":[]}', /rootfs: expected an object/],
    ['{"os":"linux","architecture":"amd64","history":{}}', /history: expected an array/],
  ];
  for (const [text, re] of cases) it(text, () => assert.throws(() => parseImageConfig(text, 'f.json'), re));
  it('a history entry with a bad field names it', () => {
    assert.throws(() => historyOf({ history: [{ created: 5 }] }, 'f.json'), /f\.json: history\[0\]\.created: expected a string/);
  });
});
