/**
 * `WWW-Authenticate` parsing (RFC 7235): one header may carry several challenges, each a scheme and
 * comma-separated `key=value` / `key="quoted, with commas"` parameters. Registries send
 * `Bearer realm=…,service=…,scope=…[,error=insufficient_scope]` or `Basic realm=…`.
 */

export interface Challenge {
  /** Lower-cased scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Parameters with lower-cased keys, values unquoted. */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** Parses every challenge in one or more header values; malformed tails are skipped, never thrown. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) out.push(...parseOne(value));
  return out;
}

function parseOne(text: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = text.length;
  const skipSpace = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN.test(text[i])) i++;
    return text.slice(start, i);
  };
  let current: Challenge | null = null;
  while (i < n) {
    skipSpace();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = readToken();
    if (!word) {
      i++; // a stray character: skip it
      continue;
    }
    skipSpace();
    if (text[i] === '=' && current) {
      // token68 (`Basic abc==`) or a parameter: a parameter has a value after '='.
      i++;
      skipSpace();
      let value: string;
      if (text[i] === '"') {
        i++;
        let v = '';
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          v += text[i++];
        }
        i++; // closing quote
        value = v;
      } else {
        // Strictly a token, but realms are sent unquoted by some servers: read up to the next comma or space.
        const begin = i;
        while (i < n && text[i] !== ',' && text[i] !== ' ' && text[i] !== '\t') i++;
        value = text.slice(begin, i);
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (i > start && current === null && text[i] === '=') {
      i++;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The scopes a Bearer challenge names (space-separated in one `scope` parameter). */
export function challengeScopes(challenge: Challenge): string[] {
  return (challenge.params.scope ?? '').split(' ').filter(Boolean);
}
