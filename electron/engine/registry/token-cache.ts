/**
 * Bearer tokens kept per (registry host, exact scope set) until they expire, as docker does: a token
 * is valid for `expires_in` seconds (at least 60, the distribution spec's default when absent). A
 * token is only ever reused for the very scopes it was issued for, so a token for one repository
 * never authorises a request to another. Concurrent requests for the same key share one fetch.
 */

/** The spec: "if expires_in is absent, assume 60 seconds"; docker also raises shorter lifetimes to 60. */
export const MIN_TOKEN_LIFETIME_S = 60;

export interface TokenAnswer {
  token: string;
  /** Seconds, as the token server said; absent or short means 60. */
  expiresIn?: number;
  /** A new refresh token the server handed back (OAuth), for a later login to store. */
  refreshToken?: string;
}

interface Entry {
  token: string;
  expiresAt: number;
}

/** Scope order matters to some token servers (push first) but not to what a token covers. */
export function tokenKey(host: string, scopes: readonly string[]): string {
  return `${host}\n${[...scopes].sort().join(' ')}`;
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(private readonly now: () => number) {}

  /** A token still valid now, or null. Expired entries are dropped. */
  get(host: string, scopes: readonly string[]): string | null {
    const key = tokenKey(host, scopes);
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (this.now() >= entry.expiresAt) {
      this.entries.delete(key);
      return null;
    }
    return entry.token;
  }

  set(host: string, scopes: readonly string[], answer: TokenAnswer): void {
    const lifetime = Math.max(MIN_TOKEN_LIFETIME_S, Number.isFinite(answer.expiresIn) ? answer.expiresIn! : 0);
    this.entries.set(tokenKey(host, scopes), { token: answer.token, expiresAt: this.now() + lifetime * 1000 });
  }

  /** Forgets a token the registry refused (a 401 despite it). */
  delete(host: string, scopes: readonly string[]): void {
    this.entries.delete(tokenKey(host, scopes));
  }

  /** The cached token, or the result of one shared `fetch` for this key. */
  async getOrFetch(host: string, scopes: readonly string[], fetch: () => Promise<TokenAnswer>): Promise<string> {
    const cached = this.get(host, scopes);
    if (cached !== null) return cached;
    const key = tokenKey(host, scopes);
    let p = this.pending.get(key);
    if (!p) {
      p = fetch().then((answer) => {
        this.set(host, scopes, answer);
        return answer.token;
      });
      this.pending.set(key, p);
      const clear = () => this.pending.delete(key);
      p.then(clear, clear);
    }
    return p;
  }
}
