import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import { REPO } from '../../helpers/fixtures';

const eslint = new ESLint({ cwd: REPO });

async function fenceErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering fences (lint)', () => {
  it('a renderer file that imports electron or node:* fails', async () => {
    assert.ok((await fenceErrors('renderer/src/probe.tsx', "import { ipcRenderer } from 'electron';\nexport const x = ipcRenderer;\n")).length > 0);
    assert.ok((await fenceErrors('renderer/src/probe.tsx', "import { readFile } from 'node:fs';\nexport const x = readFile;\n")).length > 0);
    assert.ok((await fenceErrors('renderer/src/probe.tsx', "import { readFile } from 'fs';\nexport const x = readFile;\n")).length > 0);
    assert.ok((await fenceErrors('renderer/src/probe.tsx', "import { openCacheSource } from '../../electron/engine/open-cache';\nexport const x = openCacheSource;\n")).length > 0);
  });

  it('shared/ imports nothing from Node, Electron, React or outside itself', async () => {
    for (const spec of ['node:crypto', 'crypto', 'electron', 'react', '../../electron/engine/open-cache', '../renderer/src/bridge']) {
      const errors = await fenceErrors('shared/cache/probe.ts', `import * as m from '${spec}';\nexport const x = m;\n`);
      assert.ok(errors.length > 0, spec);
    }
    // Its own modules stay importable, including one named like a Node builtin.
    assert.deepEqual(await fenceErrors('shared/contract/probe.ts', "import { EVENT_NAMES } from './events';\nexport const x = EVENT_NAMES;\n"), []);
  });

  it('the engine never imports electron; the CLI and server neither', async () => {
    for (const file of ['electron/engine/probe.ts', 'electron/cli/probe.ts', 'electron/server/probe.ts']) {
      assert.ok((await fenceErrors(file, "import { app } from 'electron';\nexport const x = app;\n")).length > 0, file);
    }
    assert.deepEqual(await fenceErrors('electron/main/probe.ts', "import { app } from 'electron';\nexport const x = app;\n"), []);
  });

  it('the preload reaches neither Node nor the engine', async () => {
    assert.ok((await fenceErrors('electron/preload/probe.ts', "import { readFile } from 'node:fs';\nexport const x = readFile;\n")).length > 0);
    assert.ok((await fenceErrors('electron/preload/probe.ts', "import { createService } from '../engine/service';\nexport const x = createService;\n")).length > 0);
  });
});
