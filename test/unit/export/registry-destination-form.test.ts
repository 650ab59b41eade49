/**
 * The export dialog's reading of a registry destination (shared/export/registry-dest-text.ts) agrees
 * with the CLI's (`parseRegistryDestination`): the same strings name a registry, the same host and
 * tag; the insecure toggle gives BuildKit's form the CLI reads as insecure; and a refused push's
 * message splits into the registry's words, what they mean and the fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { explainError } from '../../../shared/export/failure-advice';
import { hostOfReference, insecureInText, referenceProblem, registryDest, tagOfReference } from '../../../shared/export/registry-dest-text';

/** None of these exist as paths here, so the CLI reads each by its shape alone. */
const PLAIN = [
  '127.0.0.1:5000/team/cache:main',
  'localhost/team/cache',
  'registry.example/a/b/c:v1.2',
  'Registry.Example:443/team/cache',
  '[::1]:5000/team/cache:x',
  'team/cache:main',
  'cache:main',
  './out/cache',
  '/abs/out:tag',
  '~/out',
];

function cliRegistry(text: string): { registry: string; tag: string | undefined } | null | 'error' {
  try {
    const r = parseRegistryDestination(text);
    return r ? { registry: r.reference.registry, tag: r.reference.tag } : null;
  } catch {
    return 'error';
  }
}

describe('the dialog reads a registry destination as the CLI does', () => {
  it('names a registry, and its host and tag, exactly where the CLI does', () => {
    for (const text of PLAIN) {
      const cli = cliRegistry(text);
      assert.notEqual(cli, 'error', text);
      if (cli === null) {
        assert.equal(hostOfReference(text), null, `${text}: the CLI takes it for a folder`);
        assert.match(referenceProblem(text) ?? '', /names no registry host/, text);
      } else if (cli !== 'error') {
        assert.equal(referenceProblem(text), null, text);
        assert.equal(hostOfReference(text), cli.registry, text);
        assert.equal(tagOfReference(text), cli.tag, text);
      }
    }
  });

  it("BuildKit's form: the host Docker's way, registry.insecure read from it, and the toggle written into it", () => {
    const typed = 'type=registry,ref=reg.example:5000/team/cache:v2,registry.insecure=true';
    assert.equal(hostOfReference(typed), 'reg.example:5000');
    assert.equal(tagOfReference(typed), 'v2');
    assert.equal(insecureInText(typed), true);
    assert.equal(insecureInText('127.0.0.1:5000/x'), null);
    assert.equal(hostOfReference('type=registry,ref=team/cache'), 'docker.io');

    for (const [text, insecure] of [
      ['127.0.0.1:5000/team/cache:main', true],
      ['127.0.0.1:5000/team/cache:main', false],
      [typed, false],
      [typed, true],
      ['type=registry,ref=reg.example/c:t', true],
    ] as const) {
      const dest = registryDest(text, insecure);
      const cli = parseRegistryDestination(dest);
      assert.ok(cli, dest);
      assert.equal(cli.insecure, insecure, dest);
      assert.equal(cli.reference.registry, hostOfReference(text), dest);
      assert.equal(cli.reference.tag, tagOfReference(text), dest);
    }
    // Without the toggle a plain reference goes as typed: the CLI's own words for its mistakes.
    assert.equal(registryDest(' 127.0.0.1:5000/Team/x ', false), '127.0.0.1:5000/Team/x');
  });

  it("splits a refused push into the registry's words, the meaning and the fix", () => {
    const message = 'PUT manifest r:1/t:main: 400 Bad Request: MANIFEST_INVALID: Image index child manifest not supported\n  meaning: this registry does not accept the index form\n  fix: export with image-manifest=true';
    assert.deepEqual(explainError({ code: 'bad-request', message }), {
      words: 'PUT manifest r:1/t:main: 400 Bad Request: MANIFEST_INVALID: Image index child manifest not supported',
      meaning: 'this registry does not accept the index form',
      fix: 'export with image-manifest=true',
    });
    assert.deepEqual(explainError({ code: 'io', message: 'plain failure' }), { words: 'plain failure', meaning: null, fix: null });
  });
});
