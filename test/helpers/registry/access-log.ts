/** Parses distribution's access log (Apache combined format, one line per request) into requests. */
export interface RegistryRequest {
  method: string;
  /** Path with the query string, as the client sent it. */
  path: string;
  status: number;
  /** Response body bytes. */
  bytes: number;
}

// 127.0.0.1 - - [29/Nov/2026:20:17:27 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
const LINE = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-)/;

export function parseAccessLog(text: string): RegistryRequest[] {
  const out: RegistryRequest[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (m) out.push({ method: m[1], path: m[2], status: Number(m[3]), bytes: m[4] === '-' ? 0 : Number(m[4]) });
  }
  return out;
}
