/** Starts browser mode with the real engine and Debian's Chromium through playwright-core. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { startBrowserMode } from '../../electron/cli/serve-command';
import type { RunningServer } from '../../electron/server/server';
import { REPO } from '../helpers/fixtures';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO, 'test-results', 'screenshots');

export interface Session {
  server: RunningServer;
  browser: Browser;
  page: Page;
  errors: string[];
  /**
   * Content-Security-Policy violations the page reported (`securitypolicyviolation`), from the first
   * script of every document on: the listener is an init script, so violations while loading count too.
   */
  csp: string[];
  /** Rejects, naming each one, if the page logged a CSP violation, a console error or an uncaught error. */
  assertClean(): Promise<void>;
  close(): Promise<void>;
}

/** The binding the init script reports violations through (kept on the Node side, so it survives reloads). */
const CSP_BINDING = '__cachescopeCspViolation';

/** Runs before any of the page's own scripts, in every document of the page. */
function cspListenerScript(binding: string): string {
  return `document.addEventListener('securitypolicyviolation', (e) => {
    const text = (e.violatedDirective || e.effectiveDirective) + ' ' + (e.blockedURI || '(inline)') + (e.sourceFile ? ' at ' + e.sourceFile + ':' + e.lineNumber : '');
    (window.__cspViolations = window.__cspViolations || []).push(text);
    if (typeof window[${JSON.stringify(binding)}] === 'function') window[${JSON.stringify(binding)}](text);
  });`;
}

/** Fails with every problem named: CSP violations first, then console and page errors. */
export function assertNoPageProblems(s: Pick<Session, 'csp' | 'errors'>): void {
  const problems = [...s.csp.map((v) => `csp: ${v}`), ...s.errors];
  if (problems.length > 0) throw new Error(`the page logged ${problems.length} problem(s):\n${problems.join('\n')}`);
}

export async function openSession(source: string | null): Promise<Session> {
  const server = await startBrowserMode({ source, port: 0 });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors: string[] = [];
  const csp: string[] = [];
  await page.exposeFunction(CSP_BINDING, (text: string) => void csp.push(String(text)));
  await page.addInitScript(cspListenerScript(CSP_BINDING));
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(server.url);
  return {
    server,
    browser,
    page,
    errors,
    csp,
    async assertClean() {
      // A round trip first, so reports the page sent just before have reached this side.
      await page.evaluate(() => 0).catch(() => undefined);
      assertNoPageProblems({ csp, errors });
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}
