/**
 * A local cache folder with many generations, as a long-lived `--cache-to type=local` folder gets
 * (issue 8 saw one with 38): each build writes a new manifest and config, retags `latest`, and leaves
 * the older manifests orphaned. The build is a Maven-like Dockerfile whose inputs change at different
 * rates, so older generations differ from the latest in every way the diff must explain:
 *
 *   FROM base:<b>                    source root, 2 layers          (b changes every 13 builds)
 *   COPY pom.xml .                   content checksum root          (every 7 builds)
 *   RUN mvn dependency:go-offline    key `deps@<v>` (an ARG)        (every 11 builds)
 *   COPY src .                       content checksum root          (every build but a few)
 *   RUN mvn package                  same key always
 *   LABEL build=<t>                  key `label@<t>` (an ARG)       (every 3 builds)
 *   ENTRYPOINT … (t)                 key `final@<t>`                (every 3 builds)
 *
 * So an older generation against the latest typically misses at COPY src (a changed content checksum)
 * under a chain of two new keys (LABEL and ENTRYPOINT) and one known key with changed inputs (RUN
 * mvn package): the shape of issue 8's `#6 → #12 → #16 → #10 ← #13`. Layer blobs are not written
 * (their descriptors are, with sizes and diffIDs); configs are sorted and written as BuildKit does.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheConfig, CacheLayer, CacheRecord } from '../../../shared/cache/config-types';
import { marshalConfig, marshalIndex, marshalManifest, marshalOciLayout } from '../../../shared/cache/serialize';
import { sortConfig } from '../../../shared/cache/sort-config';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';

function digestOf(data: string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface GenerationParams {
  base: number;
  pom: number;
  deps: number;
  src: number;
  label: number;
}

export function paramsOf(g: number): GenerationParams {
  // A few builds change nothing in the sources (a rerun): the same checksum as the build before.
  const src = g % 9 === 8 ? g - 1 : g;
  return { base: Math.floor(g / 13), pom: Math.floor(g / 7), deps: Math.floor(g / 11), src, label: Math.floor(g / 3) };
}

const SEL_ROOT = digestOf('selector /');

/** The unsorted config and layer descriptors of one build, in the order CacheChains.Marshal would emit them. */
export function buildConfig(p: GenerationParams, createdAt: string): { config: CacheConfig; descriptors: Descriptor[] } {
  // Each layer's content depends on everything below it, as a real build's would.
  const steps = [
    ['base0', `b${p.base}`],
    ['base1', `b${p.base}`],
    ['pom', `b${p.base} p${p.pom}`],
    ['deps', `b${p.base} p${p.pom} v${p.deps}`],
    ['src', `b${p.base} p${p.pom} v${p.deps} s${p.src}`],
    ['package', `b${p.base} p${p.pom} v${p.deps} s${p.src}`],
    ['label', `b${p.base} p${p.pom} v${p.deps} s${p.src} t${p.label}`],
    ['final', `b${p.base} p${p.pom} v${p.deps} s${p.src} t${p.label}`],
  ] as const;
  const layers: CacheLayer[] = [];
  const descriptors: Descriptor[] = [];
  steps.forEach(([name, inputs], i) => {
    const blob = digestOf(`blob ${name} ${inputs}`);
    layers.push({ blob, parent: i - 1 });
    const size = 1_000_000 + (parseInt(blob.slice(7, 13), 16) % 40_000_000);
    descriptors.push({ mediaType: MediaType.ociLayerGzip, digest: blob, size, annotations: { [Annotation.uncompressed]: digestOf(`diff ${name} ${inputs}`), [Annotation.createdAt]: createdAt } });
  });
  const result = (layer: number) => [{ layer, createdAt }];
  const records: CacheRecord[] = [
    /* 0 */ { digest: digestOf(`docker-image://base:${p.base}@0`), layers: result(1) },
    // The build context's own key is random and never exported: a COPY's source slot keeps only the checksum.
    /* 1 */ { digest: digestOf(`pom checksum ${p.pom}@-1`) },
    /* 2 */ { digest: digestOf(`src checksum ${p.src}@-1`) },
    /* 3 */ { digest: digestOf('copy pom.xml@0'), inputs: [[{ link: 0 }], [{ link: 1 }]], layers: result(2) },
    /* 4 */ { digest: digestOf(`run mvn dependency:go-offline ${p.deps}@0`), inputs: [[{ selector: SEL_ROOT, link: 3 }]], layers: result(3) },
    /* 5 */ { digest: digestOf('copy src@0'), inputs: [[{ link: 4 }], [{ link: 2 }]], layers: result(4) },
    /* 6 */ { digest: digestOf('run mvn package@0'), inputs: [[{ selector: SEL_ROOT, link: 5 }]], layers: result(5) },
    /* 7 */ { digest: digestOf(`label build=${p.label}@0`), inputs: [[{ link: 6 }]], layers: result(6) },
    /* 8 */ { digest: digestOf(`entrypoint ${p.label}@0`), inputs: [[{ link: 7 }]], layers: result(7) },
  ];
  return { config: { layers, records }, descriptors };
}

/** Writes `count` generations into `dir` (oldest first) and returns their manifest digests; `latest` tags the last. */
export async function writeHistory(dir: string, count: number): Promise<string[]> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (text: string) => {
    const digest = digestOf(text);
    await writeFile(join(blobs, digest.slice('sha256:'.length)), text);
    return { digest, size: Buffer.byteLength(text) };
  };
  const manifests: Descriptor[] = [];
  for (let g = 0; g < count; g++) {
    const createdAt = new Date(Date.UTC(2026, 0, 1) + g * 86_400_000).toISOString();
    const { config, descriptors } = buildConfig(paramsOf(g), createdAt);
    const sorted = sortConfig(config);
    const configDesc = { mediaType: MediaType.cacheConfigV0, ...(await put(marshalConfig(sorted))) };
    // One descriptor per layer entry, in the sorted config's order, as BuildKit lists them.
    const byBlob = new Map(descriptors.map((d) => [d.digest, d]));
    const layers = (sorted.layers ?? []).map((l) => byBlob.get(l.blob!)!);
    const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers };
    manifests.push({ mediaType: MediaType.ociManifest, ...(await put(marshalManifest(manifest))) });
  }
  await writeFile(join(dir, 'oci-layout'), marshalOciLayout());
  const latest = manifests[manifests.length - 1];
  await writeFile(join(dir, 'index.json'), marshalIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...latest, annotations: { [Annotation.refName]: 'latest' } }] }));
  return manifests.map((m) => m.digest);
}
