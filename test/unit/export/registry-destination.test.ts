/** Which export destinations name a registry (and with what tag and insecure flag), and which stay folders. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExportArgs } from '../../../electron/cli/export-command';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { rangeEnd } from '../../../electron/engine/registry/uploads';

test('host:port/repo:tag and type=registry,ref=… are registries; paths are folders', () => {
  assert.deepEqual(parseRegistryDestination('127.0.0.1:5000/team/cache:main'), { reference: { registry: '127.0.0.1:5000', repository: 'team/cache', tag: 'main' }, insecure: false });
  assert.deepEqual(parseRegistryDestination('type=registry,ref=reg.example/c:t,registry.insecure=true'), { reference: { registry: 'reg.example', repository: 'c', tag: 't' }, insecure: true });
  assert.equal(parseRegistryDestination('/tmp/out:tag'), null);
  assert.equal(parseRegistryDestination('./out:tag'), null);
  assert.equal(parseRegistryDestination('out:tag'), null);
  assert.throws(() => parseRegistryDestination('reg.example/c@sha256:' + 'a'.repeat(64)), /takes a tag, not a digest/);
});

test('the CLI takes the tag from the reference and registry.insecure from --opt', () => {
  const p = parseExportArgs(['src', 'localhost:5000/x:t1', '--opt', 'registry.insecure=true']);
  assert.ok(typeof p !== 'string');
  assert.equal(p.registry?.insecure, true);
  assert.deepEqual(p.attrs, [['tag', 't1']]);
  assert.equal(p.dest, 'localhost:5000/x');
  assert.match(String(parseExportArgs(['src', '/tmp/out', '--opt', 'registry.insecure=true'])), /only for a registry destination/);
  assert.match(String(parseExportArgs(['src', 'localhost:5000/x:t1', '--opt', 'tag=t2'])), /two tags/);
});

test("the registry's Range: distribution's 0-0 for an empty upload is 0 bytes held", () => {
  assert.equal(rangeEnd('0-0'), 0);
  assert.equal(rangeEnd('0-8388607'), 8 << 20);
  assert.equal(rangeEnd('bytes=0-99'), 100);
  assert.equal(rangeEnd(undefined), null);
});
