/**
 * The packaging of each side: manifest form (image manifest, index, …) and media type family (OCI or
 * Docker). Two exports of the same build in other forms hold the same blobs and records, yet are not
 * the same cache to a registry or to diffoci, so a form change alone makes a diff "different".
 */
import type { CacheModel } from '../cache/model';
import { isDockerMediaType } from '../oci/media-types';
import type { CacheForm, FormDiff } from './types';

export function formOf(m: CacheModel): CacheForm {
  const manifestMediaType = m.manifest?.mediaType ?? null;
  const layerMediaTypes = [...new Set(m.parsedManifest?.layers.map((d) => d.mediaType) ?? [])].sort();
  const typed = [...(manifestMediaType === null ? [] : [manifestMediaType]), ...layerMediaTypes];
  const docker = typed.filter(isDockerMediaType).length;
  const mediaTypes = typed.length === 0 ? null : docker === 0 ? 'oci' : docker === typed.length ? 'docker' : 'mixed';
  return { variant: m.variant, manifestMediaType, layerMediaTypes, mediaTypes };
}

const FAMILY = { oci: 'OCI', docker: 'Docker', mixed: 'mixed OCI and Docker' } as const;

function family(f: CacheForm['mediaTypes']): string {
  return f === null ? 'none' : FAMILY[f];
}

export function diffForms(a: CacheModel, b: CacheModel): FormDiff {
  const fa = formOf(a);
  const fb = formOf(b);
  const changes: string[] = [];
  if (fa.variant !== fb.variant) changes.push(`manifest form: ${fa.variant} → ${fb.variant}`);
  if (fa.mediaTypes !== fb.mediaTypes) changes.push(`media types: ${family(fa.mediaTypes)} → ${family(fb.mediaTypes)}`);
  // Reported apart only when the two lines above do not already say it (e.g. a Docker list read as an OCI index).
  if (changes.length === 0 && fa.manifestMediaType !== fb.manifestMediaType) {
    changes.push(`manifest media type: ${fa.manifestMediaType ?? 'none'} → ${fb.manifestMediaType ?? 'none'}`);
  }
  return { a: fa, b: fb, changed: changes.length > 0, changes };
}
