/**
 * Warnings before a push (registries.md §1–2): the index form (image-manifest=false) to a host known
 * to refuse it, image-manifest with Docker media types (which BuildKit refuses and ECR only takes with
 * OCI types), and a cache config over BuildKit's 1 MiB import cap, naming the records and the parts
 * of them that make it big. Hosts are told by name alone (no request): the managed services by their
 * domain (`*.dkr.ecr.<region>.amazonaws.com`, `public.ecr.aws`, `gcr.io`/`*.gcr.io`, `quay.io`,
 * `gitea.com`, `codeberg.org`), self-hosted products by a host-name label that names the product
 * (`harbor.example.com`, `quay.corp`, `git.forgejo.example`…). distribution 3 cannot be told from its
 * name: its refusal is explained after the fact (push-advice.ts).
 */
import { resolveExportOptions } from '../../../shared/export/options';
import { buildExportConfig, exportChains, planExport } from '../../../shared/export/plan-export';
import type { ExportPlan } from '../../../shared/export/plan-export';
import type { ExportOptions, PushWarning } from '../../../shared/export/types';
import { registryHostname } from '../../../shared/oci/distribution-source';
import { formatBytes } from '../../../shared/util/bytes';

/** BuildKit's importer reads at most this much of a cache config (moby/buildkit#4916). */
export const CONFIG_IMPORT_CAP = 1 << 20;

/** A registry known to refuse the index form, with its answer (registries.md §1). */
export interface KnownRegistry {
  name: string;
  /** What it answers to the PUT of an index-form cache manifest, in its words. */
  indexRefusal: string;
}

const REGISTRIES: { match: (host: string, labels: string[]) => boolean; known: KnownRegistry }[] = [
  {
    match: (h) => /\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/.test(h) || h === 'public.ecr.aws',
    known: { name: 'AWS ECR', indexRefusal: '400 UNSUPPORTED: Unsupported manifest type' },
  },
  {
    match: (h) => h === 'gcr.io' || h.endsWith('.gcr.io'),
    known: { name: 'Google Container Registry (gcr.io)', indexRefusal: 'MANIFEST_INVALID: Image index child manifest not supported' },
  },
  {
    match: (h, labels) => h === 'quay.io' || labels.slice(0, -1).some((l) => l === 'quay' || l.startsWith('quay-')),
    known: { name: 'Quay', indexRefusal: "400 MANIFEST_INVALID: 'platform' is a required property" },
  },
  {
    match: (h, labels) => h === 'goharbor.io' || h.endsWith('.goharbor.io') || labels.slice(0, -1).some((l) => l === 'harbor' || l.startsWith('harbor-')),
    known: { name: 'Harbor', indexRefusal: '404 Not Found on the manifest PUT' },
  },
  {
    match: (h, labels) => h === 'gitea.com' || h === 'codeberg.org' || labels.slice(0, -1).some((l) => ['gitea', 'forgejo'].includes(l) || l.startsWith('gitea-') || l.startsWith('forgejo-')),
    known: { name: 'Gitea/Forgejo', indexRefusal: 'MANIFEST_INVALID: index entries must be image manifests' },
  },
];

/** The registry a host is known to be (by its name), or null. */
export function knownRegistry(registry: string): KnownRegistry | null {
  const host = registryHostname(registry).toLowerCase();
  const labels = host.split('.');
  return REGISTRIES.find((r) => r.match(host, labels))?.known ?? null;
}

/** The form and media types asked for (ResolvedExportOptions, or the raw options of an invalid combination). */
export interface FormChoice {
  oci: boolean;
  imageManifest: boolean;
}

/** Warnings about the manifest form and media types for a push to `registry`. */
export function formWarnings(registry: string, form: FormChoice): PushWarning[] {
  const known = knownRegistry(registry);
  const out: PushWarning[] = [];
  if (form.imageManifest && !form.oci) {
    out.push({
      kind: 'docker-image-manifest',
      message: `image-manifest=true with Docker media types (oci-mediatypes=false): BuildKit refuses this combination${known ? `, and ${known.name} (${registry}) takes the image-manifest form only with OCI media types` : ''}`,
      fix: 'oci-mediatypes=true (with image-manifest=true)',
    });
  }
  if (!form.imageManifest && known) {
    const what = form.oci ? 'an OCI image index' : 'a Docker manifest list';
    out.push({
      kind: 'index-form',
      message: `${registry} is ${known.name}, which refuses the index form of a cache manifest (${what} whose entries are layers): it answers ${known.indexRefusal}`,
      fix: 'image-manifest=true (with oci-mediatypes=true), the form every registry accepts',
    });
  }
  return out;
}

interface ConfigRecordJson {
  digest?: string;
  inputs?: unknown[];
  layers?: unknown[];
  chains?: unknown[];
}

const bytesOf = (v: unknown) => (v === undefined ? 0 : Buffer.byteLength(JSON.stringify(v)));

/**
 * A build stage as the config shows it: a final record (no other record takes it as an input) and
 * every record it needs. A record shared by two stages weighs in both: dropping either keeps it.
 */
export interface StageWeight {
  /** The final record's index in `records`. */
  record: number;
  digest: string;
  /** Records in the stage, the final one included. */
  records: number;
  bytes: number;
}

/** What makes a cache config big: its parts, the records and the stages that weigh most. */
export interface ConfigWeight {
  size: number;
  parts: { part: string; bytes: number }[];
  records: { digest: string; bytes: number; results: number; inputs: number; chains: number }[];
  stages: StageWeight[];
}

/** The record indexes a record's inputs link to (`inputs[slot][k].link`), ignoring malformed entries. */
function inputLinks(r: ConfigRecordJson, count: number): number[] {
  const out: number[] = [];
  for (const slot of r.inputs ?? []) {
    if (!Array.isArray(slot)) continue;
    for (const input of slot) {
      const link = (input as { link?: unknown } | null)?.link;
      if (typeof link === 'number' && Number.isInteger(link) && link >= 0 && link < count) out.push(link);
    }
  }
  return out;
}

/** Ranks the stages (final records with everything they need) by the config bytes they hold. */
function weighStages(records: ConfigRecordJson[], recordBytes: number[], top: number): StageWeight[] {
  const links = records.map((r) => inputLinks(r, records.length));
  const used = new Set(links.flat());
  const stages: StageWeight[] = [];
  for (let leaf = 0; leaf < records.length; leaf++) {
    if (used.has(leaf)) continue;
    const seen = new Set<number>([leaf]);
    const stack = [leaf];
    let bytes = 0;
    while (stack.length > 0) {
      const i = stack.pop()!;
      bytes += recordBytes[i];
      for (const j of links[i]) {
        if (seen.has(j)) continue;
        seen.add(j);
        stack.push(j);
      }
    }
    stages.push({ record: leaf, digest: records[leaf].digest ?? `records[${leaf}]`, records: seen.size, bytes });
  }
  return stages.sort((a, b) => b.bytes - a.bytes).slice(0, top);
}

/** Splits the config text's bytes into layers, records' results, inputs, chains and digests, and ranks records. */
export function weighConfig(text: string, top = 3): ConfigWeight {
  const size = Buffer.byteLength(text);
  let value: { layers?: unknown[]; records?: ConfigRecordJson[] };
  try {
    value = JSON.parse(text) as typeof value;
  } catch {
    return { size, parts: [], records: [], stages: [] };
  }
  const records = value.records ?? [];
  const parts = [
    { part: 'layer chains (layers)', bytes: bytesOf(value.layers) },
    { part: "records' results (records[].layers)", bytes: records.reduce((n, r) => n + bytesOf(r.layers), 0) },
    { part: "records' inputs (records[].inputs)", bytes: records.reduce((n, r) => n + bytesOf(r.inputs), 0) },
    { part: "records' chains (records[].chains)", bytes: records.reduce((n, r) => n + bytesOf(r.chains), 0) },
    { part: "records' digests", bytes: records.reduce((n, r) => n + bytesOf(r.digest), 0) },
  ]
    .filter((p) => p.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
  const recordBytes = records.map((r) => bytesOf(r));
  const ranked = records
    .map((r, i) => ({ digest: r.digest ?? `records[${i}]`, bytes: recordBytes[i], results: r.layers?.length ?? 0, inputs: (r.inputs ?? []).flat().length, chains: r.chains?.length ?? 0 }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top);
  return { size, parts, records: ranked, stages: weighStages(records, recordBytes, top) };
}

/** A warning when the config is over BuildKit's import cap, else null. */
export function configSizeWarning(configText: string, cap = CONFIG_IMPORT_CAP): PushWarning | null {
  const size = Buffer.byteLength(configText);
  if (size <= cap) return null;
  const w = weighConfig(configText);
  const parts = w.parts.slice(0, 3).map((p) => `${p.part} ${formatBytes(p.bytes)}`).join(', ');
  const short = (d: string) => (d.length > 19 ? `${d.slice(0, 19)}…` : d);
  const records = w.records.map((r) => `${short(r.digest)} (${formatBytes(r.bytes)}: ${r.results} results, ${r.inputs} inputs${r.chains ? `, ${r.chains} chains` : ''})`).join(', ');
  const stages = w.stages.map((st) => `the stage ending at record #${st.record} ${short(st.digest)} (${formatBytes(st.bytes)} in ${st.records} records)`).join(', ');
  return {
    kind: 'config-size',
    message: `the cache config is ${formatBytes(size)} (${size} bytes), over BuildKit's ${formatBytes(cap)} import cap: the push will work but BuildKit will refuse to import it ("blob … is too large (${size} > ${cap})"). Most of it: ${parts}; the stages that inflate it (a final record and every record it needs): ${stages}; the records that weigh most: ${records}`,
    fix: 'export fewer records: build with --cache-to …,mode=min (only the final stage\'s results), or split the cache into one ref per build stage or target',
  };
}

/** Every pre-push warning for a push of this form and config to `registry`. */
export function pushWarnings(registry: string, form: FormChoice, configText: string | null): PushWarning[] {
  const out = formWarnings(registry, form);
  const big = configText === null ? null : configSizeWarning(configText);
  if (big) out.push(big);
  return out;
}

/** The parts of an opened cache the warnings read. */
export interface WarnedSource {
  model: Parameters<typeof planExport>[0]['source'];
  texts: { config: string | null };
}

/**
 * The warnings for exporting `opened` with `options` to `registry`. `plan` is the exporter's when it
 * has one; without it every blob counts as present (a config can only shrink by drop-missing).
 */
export function exportPushWarnings(opened: WarnedSource, options: ExportOptions, registry: string, plan?: ExportPlan): PushWarning[] {
  let resolved;
  try {
    resolved = resolveExportOptions(options);
  } catch {
    // Invalid options are the preview's error; the form asked for can still be warned about.
    const oci = options['oci-mediatypes'] ?? true;
    return formWarnings(registry, { oci, imageManifest: options['image-manifest'] ?? oci });
  }
  let configText: string | null = null;
  try {
    const p = plan ?? planExport({ source: opened.model, options: resolved, facts: () => ({ present: true, detected: null }) });
    if (!p.empty) configText = buildExportConfig(exportChains(p, opened.model, new Map()), opened.model.config.format === 'v0' ? opened.texts.config : null).text;
  } catch {
    /* a chain that cannot be exported is the export's error, not a warning */
  }
  return pushWarnings(registry, resolved, configText);
}
