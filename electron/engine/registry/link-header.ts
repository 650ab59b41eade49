/**
 * The `Link` header of paginated listings (RFC 8288): `<url>; rel="next"`. The distribution spec
 * pages `/tags/list` this way; the URL is relative to the request.
 */

/** The `rel="next"` target of a Link header, resolved against `base`, or null. */
export function nextLink(header: string | string[] | undefined, base: URL): URL | null {
  if (!header) return null;
  const text = Array.isArray(header) ? header.join(', ') : header;
  const re = /<([^>]*)>((?:\s*;\s*[^;,]+(?:=(?:"[^"]*"|[^;,]*))?)*)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const params = m[2];
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]*))/i.exec(params);
    const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) {
      try {
        return new URL(m[1], base);
      } catch {
        return null;
      }
    }
  }
  return null;
}
