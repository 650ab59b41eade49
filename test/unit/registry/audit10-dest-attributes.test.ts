/**
 * Audit of issue 10: BuildKit's `type=registry,ref=…` destination form. Export options written
 * inside it (as in a copied `--cache-to type=registry,ref=…,image-manifest=false`) are read as
 * `--opt` would be, never silently dropped: honoured by the CLI and the app alike, refused by name
 * when unknown or when `--opt` says otherwise. `registry.insecure` and `mode=max` (what exporting an
 * existing cache does) are taken; another mode is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExportArgs } from '../../../electron/cli/export-command';
import { exportDestination } from '../../../electron/engine/export/export-jobs';
import { parseImageDestination } from '../../../electron/engine/export/image-destination';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { CacheError } from '../../../shared/contract/errors';
import { parseExportAttrs } from '../../../shared/export/options';

const REF = 'type=registry,ref=reg.example:5000/team/cache:main';

/** The options the CLI runs with for these arguments, or its refusal. */
function cliOptions(args: string[]): ReturnType<typeof parseExportAttrs> | string {
  const parsed = parseExportArgs(args);
  if (typeof parsed === 'string') return parsed;
  try {
    return parseExportAttrs(parsed.attrs);
  } catch (err) {
    return (err as Error).message;
  }
}

describe('attributes inside a type=registry destination', () => {
  it('registry.insecure and mode=max are taken', () => {
    assert.equal(parseRegistryDestination(`${REF},registry.insecure=true`)?.insecure, true);
    assert.equal(parseRegistryDestination(`${REF},mode=max`)?.reference.tag, 'main');
    assert.equal(parseRegistryDestination(`${REF},mode=max`)?.attributes, undefined);
  });

  it('export options are honoured as --opt is, by the CLI and by the app', () => {
    const dest = `${REF},mode=max,image-manifest=false,oci-mediatypes=false,compression=zstd,compression-level=5,force-compression=true`;
    const expected = { 'image-manifest': false, 'oci-mediatypes': false, compression: 'zstd', 'compression-level': 5, 'force-compression': true, tag: 'main' };
    assert.deepEqual(cliOptions(['/some/cache', dest]), expected);
    assert.deepEqual(exportDestination(dest, {}).options, expected);
    // The same value given both ways is fine.
    assert.deepEqual(cliOptions(['/some/cache', `${REF},compression=zstd`, '--opt', 'compression=zstd']), { compression: 'zstd', tag: 'main' });
  });

  it('a key set differently in the destination and in --opt (or the dialog) is refused, naming both', () => {
    assert.match(String(cliOptions(['/some/cache', `${REF},compression=zstd`, '--opt', 'compression=gzip'])), /compression given twice: "zstd" in the destination and "gzip" in --opt compression=/);
    assert.throws(
      () => exportDestination(`${REF},image-manifest=true`, { 'image-manifest': false }),
      (err: unknown) => err instanceof CacheError && err.code === 'invalid-options' && /image-manifest given twice: true in the destination and false in the options/.test(err.message),
    );
  });

  it('an unknown attribute is refused by the options parser, by name; mode=min is refused too', () => {
    assert.match(String(cliOptions(['/some/cache', `${REF},ignore-error=true`])), /unknown export option "ignore-error"/);
    assert.throws(() => exportDestination(`${REF},ignore-error=true`, {}), /unknown export option "ignore-error"/);
    assert.throws(
      () => parseRegistryDestination(`${REF},mode=min`),
      (err: unknown) => err instanceof CacheError && err.code === 'invalid-options' && /mode=min is BuildKit's choice of records while building; an existing cache is exported whole/.test(err.message) && err.details?.field === 'mode',
    );
    assert.match(String(parseExportArgs(['/some/cache', `${REF},mode=min`])), /mode=min/);
  });

  it('an image destination does not take cache export options in the type=registry form', () => {
    assert.throws(() => parseImageDestination(`${REF},image-manifest=true`), /image-manifest: cache export options, not read from an image destination/);
  });
});
