/** bcrypt htpasswd files, as distribution's `auth.htpasswd` reads them (hashed by Python's crypt; no apache2-utils needed). */
import { writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { run } from './processes';

// Debian's python3 (3.11) still has `crypt` with bcrypt; the pyenv one on dev machines may be newer and lack it.
const PYTHONS = ['/usr/bin/python3', 'python3'];

const SCRIPT = 'import crypt,sys\nfor pw in sys.stdin.read().split("\\n"):\n  print(crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)) if pw else "")';

export function bcryptHashes(passwords: string[]): string[] {
  const errors: string[] = [];
  for (const python of PYTHONS) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    try {
      const out = run(python, ['-W', 'ignore', '-c', SCRIPT], { input: passwords.join('\n') }).split('\n').filter(Boolean);
      if (out.length === passwords.length && out.every((h) => h.startsWith('$2'))) return out;
      errors.push(`${python}: no bcrypt in its crypt module`);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new Error(`cannot make bcrypt hashes for htpasswd (python3 with the crypt module is needed):\n${errors.join('\n')}`);
}

export function writeHtpasswd(file: string, users: Record<string, string>): void {
  const names = Object.keys(users);
  const hashes = bcryptHashes(names.map((n) => users[n]));
  writeFileSync(file, names.map((n, i) => `${n}:${hashes[i]}\n`).join(''));
}
