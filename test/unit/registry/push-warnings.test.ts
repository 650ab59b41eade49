/**
 * Pre-push warnings: the index form to hosts known to refuse it (told by name, registries.md §1),
 * image-manifest with Docker media types, and a cache config over BuildKit's 1 MiB import cap naming
 * the parts and records that make it big; previewExport carries them for a registry `dest` only.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { previewExport } from '../../../electron/engine/export/exporter';
import { CONFIG_IMPORT_CAP, configSizeWarning, formWarnings, knownRegistry, weighConfig } from '../../../electron/engine/registry/push-warnings';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES } from '../../helpers/fixtures';

describe('knownRegistry: hosts told by name', () => {
  const cases: [string, string | null][] = [
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'AWS ECR'],
    ['123456789012.dkr.ecr-fips.us-east-1.amazonaws.com', 'AWS ECR'],
    ['123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', 'AWS ECR'],
    ['public.ecr.aws', 'AWS ECR'],
    ['gcr.io', 'Google Container Registry (gcr.io)'],
    ['eu.gcr.io', 'Google Container Registry (gcr.io)'],
    ['quay.io', 'Quay'],
    ['quay.corp.example:8443', 'Quay'],
    ['harbor.example.com', 'Harbor'],
    ['demo.goharbor.io', 'Harbor'],
    ['gitea.com', 'Gitea/Forgejo'],
    ['codeberg.org', 'Gitea/Forgejo'],
    ['forgejo.example.org', 'Gitea/Forgejo'],
    // Accepted the index form (registries.md §1), or not known by name.
    ['europe-west1-docker.pkg.dev', null],
    ['ghcr.io', null],
    ['docker.io', null],
    ['myregistry.azurecr.io', null],
    ['registry.gitlab.com', null],
    ['127.0.0.1:5000', null],
    ['notharbor.com', null],
    ['ecr.example.com', null],
    ['example.quay', null],
  ];
  for (const [host, name] of cases) {
    it(`${host} → ${name ?? 'unknown'}`, () => assert.equal(knownRegistry(host)?.name ?? null, name));
  }
});

describe('form warnings', () => {
  it('the index form to ECR names ECR, its answer and image-manifest=true', () => {
    const [w, ...rest] = formWarnings('123456789012.dkr.ecr.eu-west-1.amazonaws.com', { oci: true, imageManifest: false });
    assert.equal(rest.length, 0);
    assert.equal(w.kind, 'index-form');
    assert.match(w.message, /AWS ECR, which refuses the index form .*an OCI image index.*UNSUPPORTED: Unsupported manifest type/);
    assert.match(w.fix, /^image-manifest=true/);
  });
  it('a Docker manifest list to Quay says so', () => {
    const [w] = formWarnings('quay.io', { oci: false, imageManifest: false });
    assert.match(w.message, /a Docker manifest list/);
    assert.match(w.message, /'platform' is a required property/);
  });
  it('the image-manifest form, or a host not known to refuse, gets no warning', () => {
    assert.deepEqual(formWarnings('gcr.io', { oci: true, imageManifest: true }), []);
    assert.deepEqual(formWarnings('ghcr.io', { oci: true, imageManifest: false }), []);
  });
  it('image-manifest with Docker media types names oci-mediatypes=true (and the host when known)', () => {
    const [w] = formWarnings('public.ecr.aws', { oci: false, imageManifest: true });
    assert.equal(w.kind, 'docker-image-manifest');
    assert.match(w.message, /AWS ECR \(public\.ecr\.aws\) takes the image-manifest form only with OCI media types/);
    assert.match(w.fix, /^oci-mediatypes=true/);
  });
});

describe('config size', () => {
  const record = (i: number, results: number) => ({
    digest: `sha256:${i.toString(16).padStart(64, '0')}`,
    inputs: [[{ selector: 'sha256:' + 'e'.repeat(64), link: i }]],
    layers: Array.from({ length: results }, (_, k) => ({ layer: k, createdAt: '2026-01-02T03:04:05.123456789Z' })),
  });
  it('under the cap: no warning', () => {
    assert.equal(configSizeWarning(JSON.stringify({ layers: [], records: [record(1, 2)] })), null);
  });
  it('over the cap: the size, BuildKit\'s refusal, the heaviest parts and records, and mode=min', () => {
    const records = [record(1, 4000), ...Array.from({ length: 5000 }, (_, i) => record(i + 2, 1))];
    const text = JSON.stringify({ layers: [{ blob: 'sha256:' + 'a'.repeat(64) }], records });
    const size = Buffer.byteLength(text);
    assert.ok(size > CONFIG_IMPORT_CAP);
    const w = configSizeWarning(text)!;
    assert.equal(w.kind, 'config-size');
    assert.match(w.message, new RegExp(`\\(${size} bytes\\), over BuildKit's 1.00 MiB import cap`));
    assert.match(w.message, new RegExp(`is too large \\(${size} > 1048576\\)`));
    // Results weigh most; the record with 4000 results is named first.
    assert.match(w.message, /Most of it: records' results \(records\[\]\.layers\)/);
    assert.match(w.message, /the records that weigh most: sha256:0000000000\S* \([\d.]+ KiB: 4000 results, 1 inputs\)/);
    assert.match(w.fix, /mode=min/);
    const weight = weighConfig(text);
    assert.equal(weight.records[0].results, 4000);
    assert.equal(weight.parts[0].part, "records' results (records[].layers)");
  });
  it('names the stages that inflate it: each final record with every record it needs, heaviest first', () => {
    // Two stages: a heavy one (records 0 → 1 → 2, record 1 holding 3000 results) and a light one (3 → 4);
    // record 5 stands alone. Records link by index, as BuildKit writes them.
    const rec = (i: number, results: number, links: number[]) => ({
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      inputs: links.length === 0 ? [] : [links.map((link) => ({ selector: '', link }))],
      layers: Array.from({ length: results }, (_, k) => ({ layer: k, createdAt: '2026-01-02T03:04:05.123456789Z' })),
    });
    const filler = Array.from({ length: 16000 }, (_, k) => ({ layer: k, createdAt: '2026-01-02T03:04:05.123456789Z' }));
    const records = [rec(0, 0, []), rec(1, 3000, [0]), rec(2, 1, [1]), rec(3, 0, []), rec(4, 1, [3]), { ...rec(5, 0, []), layers: filler.slice(0, 10) }];
    // Padding in the light stage's chain keeps the whole over the cap without changing the order.
    records[3] = { ...records[3], layers: filler };
    const text = JSON.stringify({ layers: [], records });
    assert.ok(Buffer.byteLength(text) > CONFIG_IMPORT_CAP);
    const weight = weighConfig(text);
    assert.deepEqual(weight.stages.map((st) => [st.record, st.records]), [[4, 2], [2, 3], [5, 1]]);
    assert.ok(weight.stages[0].bytes > weight.stages[1].bytes && weight.stages[1].bytes > weight.stages[2].bytes);
    const w = configSizeWarning(text)!;
    assert.match(w.message, /the stages that inflate it \(a final record and every record it needs\): the stage ending at record #4 sha256:0000000000\S* \([\d.]+ KiB in 2 records\), the stage ending at record #2 /);
  });
});

describe('previewExport with a destination', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-warnings-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('a registry known to refuse the index form warns; a folder and no dest do not', async () => {
    const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-index-gzip'));
    const options = { 'image-manifest': false };
    const toEcr = await previewExport(src, options, '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/cache:main');
    assert.deepEqual(toEcr.warnings?.map((w) => w.kind), ['index-form']);
    const toHarbor = await previewExport(src, options, 'type=registry,ref=harbor.corp.example/proj/cache:main');
    assert.deepEqual(toHarbor.warnings?.map((w) => w.kind), ['index-form']);
    assert.deepEqual((await previewExport(src, options, join(tmp, 'folder'))).warnings, []);
    assert.equal((await previewExport(src, options)).warnings, undefined);
    assert.deepEqual((await previewExport(src, {}, 'quay.io/team/cache:main')).warnings, []);
  });

  it('invalid options still warn about the form asked for (next to BuildKit\'s error)', async () => {
    const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
    const p = await previewExport(src, { 'image-manifest': true, 'oci-mediatypes': false }, 'public.ecr.aws/team/cache:main');
    assert.match(p.error ?? '', /OCI mediatypes are required/);
    assert.deepEqual(p.warnings?.map((w) => w.kind), ['docker-image-manifest']);
  });

  it('a generated cache whose config is over 1 MiB warns before a push', async () => {
    const dir = join(tmp, 'big');
    await generateCache(dir, { seed: 'push-warnings', stages: 2, layersPerStage: 3, layerBytes: 1024, compression: 'gzip', form: 'image-manifest', withBlobs: true, records: 8000 });
    const src = await openCacheSource(dir);
    const p = await previewExport(src, {}, '127.0.0.1:5000/big/cache:main');
    const w = p.warnings?.find((x) => x.kind === 'config-size');
    assert.ok(w, `warnings: ${JSON.stringify(p.warnings)}`);
    assert.match(w.message, /over BuildKit's 1.00 MiB import cap/);
    assert.match(w.message, /the records that weigh most: sha256:/);
  });
});
