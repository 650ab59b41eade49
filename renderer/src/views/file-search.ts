/** Search in a file listing: a plain text matches anywhere in the path; `*`, `?`, `[…]` make it a glob. */

function escapeRegex(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** The glob as a regex: `**` crosses directories, `*` and `?` do not; without a `/` it matches a base name too. */
export function globRegex(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += escapeRegex(c);
  }
  const body = glob.startsWith('/') ? out.slice(2) : out;
  return glob.includes('/') ? new RegExp(`^${body}$`) : new RegExp(`(^|/)${body}$`);
}

export function isGlob(query: string): boolean {
  return /[*?[]/.test(query);
}

/** A predicate on paths for what the user typed (empty: everything). */
export function pathMatcher(query: string): (path: string) => boolean {
  const q = query.trim();
  if (!q) return () => true;
  if (isGlob(q)) {
    const re = globRegex(q);
    return (p) => re.test(p);
  }
  const lower = q.replace(/^\/+/, '').toLowerCase();
  return (p) => p.toLowerCase().includes(lower);
}
