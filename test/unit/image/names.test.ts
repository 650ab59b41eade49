import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageName, parseImageNames } from '../../../shared/image/names';

describe('parseImageName (ParseNormalizedNamed + TagNameOnly)', () => {
  const ok: [string, string][] = [
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['foo/bar', 'docker.io/foo/bar:latest'],
    ['index.docker.io/foo', 'docker.io/library/foo:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/team/app:v1', 'localhost:5000/team/app:v1'],
    ['registry.example/Team-x'.toLowerCase(), 'registry.example/team-x:latest'],
    ['Registry.Example/app', 'Registry.Example/app:latest'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    [`alpine@sha256:${'a'.repeat(64)}`, `docker.io/library/alpine@sha256:${'a'.repeat(64)}`],
    [`alpine:3@sha256:${'a'.repeat(64)}`, `docker.io/library/alpine:3@sha256:${'a'.repeat(64)}`],
  ];
  for (const [input, want] of ok) it(`${input} → ${want}`, () => assert.equal(parseImageName(input).full, want));

  const bad: [string, string][] = [
    ['a'.repeat(64), `invalid repository name (${'a'.repeat(64)}), cannot specify 64-byte hexadecimal strings`],
    ['Alpine', 'invalid reference format: repository name (library/Alpine) must be lowercase'],
    ['foo/Bar:1', 'invalid reference format: repository name (foo/Bar) must be lowercase'],
    ['', 'invalid reference format'],
    ['alpine:', 'invalid reference format'],
    ['alpine:-bad', 'invalid reference format'],
    ['a b', 'invalid reference format'],
    ['a//b', 'invalid reference format'],
    [`example.com/${'a'.repeat(250)}`, 'repository name must not be more than 255 characters'],
    [`alpine@sha256:${'a'.repeat(63)}`, 'invalid checksum digest length'],
    [`alpine@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
    [`alpine@sha256:${'A'.repeat(64)}`, 'invalid checksum digest format'],
  ];
  for (const [input, message] of bad) {
    it(`refuses ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}: ${message}`, () => {
      assert.throws(() => parseImageName(input), (err: Error) => err.message === message);
    });
  }

  it('name=a,b gives each name; one bad name fails the list', () => {
    assert.deepEqual(parseImageNames('alpine,foo/bar:2').map((n) => n.full), ['docker.io/library/alpine:latest', 'docker.io/foo/bar:2']);
    assert.throws(() => parseImageNames('alpine,'), /invalid reference format/);
  });
});
