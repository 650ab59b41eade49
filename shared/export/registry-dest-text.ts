/**
 * A registry destination as the export dialog reads it (pure string work, no network), before the engine does: which host it names
 * (for the login state), its tag, BuildKit's `registry.insecure` in it, what the form alone can say is
 * wrong, and the `dest` string sent to the engine. The rules follow the CLI's (registry-target.ts
 * `parseRegistryDestination`); test/unit/export/registry-destination-form.test.ts holds them together.
 */
const INSECURE_FIELD = /^\s*registry\.insecure\s*=\s*([^,]*)$/i;

function isTypeForm(text: string): boolean {
  return /^\s*type\s*=/i.test(text);
}

/** The `ref=` of BuildKit's `type=registry,ref=…`, or the text itself. */
function refPart(text: string): string {
  if (!isTypeForm(text)) return text.trim();
  const field = text.split(',').find((f) => /^\s*ref\s*=/i.test(f));
  return field ? field.slice(field.indexOf('=') + 1).trim() : '';
}

/** The registry host a reference names, as docker reads it (no host: Docker Hub), or null when there is none yet. */
export function hostOfReference(text: string): string | null {
  const typeForm = isTypeForm(text);
  const ref = refPart(text);
  // The CLI's rule for a plain destination: a path is never a registry.
  if (!ref || (!typeForm && /^[./~\\]/.test(ref))) return null;
  const slash = ref.indexOf('/');
  const first = slash > 0 ? ref.slice(0, slash) : '';
  const named = /[.:]/.test(first) || first === 'localhost' || (typeForm && first !== first.toLowerCase());
  if (!named) return typeForm ? 'docker.io' : null;
  const host = first.toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

/** The tag a reference names (`latest` when it names none), for the progress panel's heading. */
export function tagOfReference(text: string): string {
  const ref = refPart(text).replace(/@.*$/, '');
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(colon + 1) : 'latest';
}

/** `registry.insecure` as written in BuildKit's form, or null when it is not there. */
export function insecureInText(text: string): boolean | null {
  if (!isTypeForm(text)) return null;
  for (const f of text.split(',')) {
    const m = INSECURE_FIELD.exec(f);
    if (m) return m[1].trim().toLowerCase() === 'true';
  }
  return null;
}

/**
 * What the form alone can say is wrong before the engine reads the reference. A plain reference
 * must name its registry host, as `cachescope export` requires (otherwise the CLI takes it for a folder).
 */
export function referenceProblem(text: string): string | null {
  const t = text.trim();
  if (!t) return 'Type a registry reference';
  if (isTypeForm(t)) return null;
  if (hostOfReference(t) === null) return `${t} names no registry host: write HOST[:PORT]/REPOSITORY[:TAG] (e.g. registry.example:5000/team/cache:main) or BuildKit's type=registry,ref=…`;
  return null;
}

/** The `dest` sent to the engine: the reference as typed, or BuildKit's form when the toggle adds registry.insecure. */
export function registryDest(text: string, insecure: boolean): string {
  const t = text.trim();
  if (isTypeForm(t)) {
    const fields = t.split(',').filter((f) => !INSECURE_FIELD.test(f));
    return insecure ? [...fields, 'registry.insecure=true'].join(',') : fields.join(',');
  }
  return insecure ? `type=registry,ref=${t},registry.insecure=true` : t;
}
