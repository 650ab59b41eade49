/**
 * A real docker credential helper for tests: an executable `docker-credential-<name>` script (Node)
 * in a temp bin dir, speaking the docker-credential-helpers protocol, keeping its secrets in a JSON
 * file beside it and logging every call. Put `bin` first on PATH.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

const SCRIPT = `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const dir = path.dirname(fs.realpathSync(process.argv[1]));
const storeFile = path.join(dir, 'store.json');
const logFile = path.join(dir, 'calls.log');
const action = process.argv[2];
const input = fs.readFileSync(0, 'utf8');
fs.appendFileSync(logFile, JSON.stringify({ helper: path.basename(process.argv[1]), action, input }) + '\\n');
const store = fs.existsSync(storeFile) ? JSON.parse(fs.readFileSync(storeFile, 'utf8')) : {};
if (action === 'get') {
  const server = input.trim();
  if (server === 'broken.example') { process.stdout.write('keychain locked'); process.exit(1); }
  const hit = store[server];
  if (!hit) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
  process.stdout.write(JSON.stringify({ ServerURL: server, Username: hit.Username, Secret: hit.Secret }));
} else if (action === 'store') {
  const c = JSON.parse(input);
  store[c.ServerURL] = { Username: c.Username, Secret: c.Secret };
  fs.writeFileSync(storeFile, JSON.stringify(store));
} else if (action === 'erase') {
  delete store[input.trim()];
  fs.writeFileSync(storeFile, JSON.stringify(store));
} else { process.stdout.write('unknown action'); process.exit(1); }
`;

export interface HelperCall {
  helper: string;
  action: string;
  input: string;
}

export interface FakeHelpers {
  bin: string;
  /** PATH with `bin` first. */
  path: string;
  /** Replaces what every helper in `bin` knows: server URL → { Username, Secret }. */
  setEntries(entries: Record<string, { Username: string; Secret: string }>): Promise<void>;
  calls(): Promise<HelperCall[]>;
}

/** Installs `docker-credential-<name>` for each name into `bin` (an existing dir). */
export async function installCredentialHelpers(bin: string, names: string[]): Promise<FakeHelpers> {
  for (const name of names) {
    const file = join(bin, `docker-credential-${name}`);
    await writeFile(file, SCRIPT);
    await chmod(file, 0o755);
  }
  return {
    bin,
    path: `${bin}${delimiter}${process.env.PATH ?? ''}`,
    setEntries: (entries) => writeFile(join(bin, 'store.json'), JSON.stringify(entries)),
    calls: async () => {
      const text = await readFile(join(bin, 'calls.log'), 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as HelperCall);
    },
  };
}
