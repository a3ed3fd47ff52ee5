/**
 * Launches Debian's Chromium with an unpacked extension loaded, through playwright-core (Playwright's
 * own browser download is not available here). Shared by the extension and autofill e2e tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page, type Worker } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { type RunningServer, startServer } from './server';

export const CHROMIUM_PATH = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Where the e2e runs save their screenshots: test-results/ by default, so a test run leaves the work
 * tree clean; `npm run screenshots` points it at docs/screenshots, the README's pictures.
 */
export const SCREENSHOTS_DIR = resolve(
  ROOT,
  process.env.SCREENSHOTS_DIR ?? join('test-results', 'screenshots'),
);

export interface ExtensionBrowser {
  context: BrowserContext;
  /** The extension's id: the host of its service worker's URL. */
  extensionId: string;
  /** chrome-extension://<id>/<path> */
  url(path: string): string;
  serviceWorker: Worker;
  /** Where downloads land (Playwright also reports them as `download` events). */
  downloadsDir: string;
  close(): Promise<void>;
}

/**
 * Builds the test-only extension (host access to the loopback granted in its manifest, since Playwright
 * cannot click the permission prompt) into dist/<name>; each e2e file has its own, so they can run in
 * parallel. Returns the directory.
 */
export function buildTestExtension(name: string): string {
  const build = spawnSync(process.execPath, ['--import', 'tsx', 'extension/build.ts'], {
    cwd: ROOT,
    env: { ...process.env, SPAREKEY_E2E: '1', SPAREKEY_E2E_NAME: name },
    encoding: 'utf8',
  });
  if (build.status !== 0) throw new Error(`extension build failed:\n${build.stdout}\n${build.stderr}`);
  return join(ROOT, 'dist', name);
}

export function assertChromium(): void {
  if (!existsSync(CHROMIUM_PATH)) throw new Error('Chromium not found: apt-get install -y chromium');
}

export async function launchWithExtension(
  extensionDir: string,
  options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<ExtensionBrowser> {
  assertChromium();
  if (!existsSync(join(extensionDir, 'manifest.json'))) {
    throw new Error(`No built extension in ${extensionDir}: run the build first`);
  }
  const profileDir = await mkdtemp(join(tmpdir(), 'sparekey-chromium-'));
  const downloadsDir = await mkdtemp(join(tmpdir(), 'sparekey-downloads-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    headless: true,
    executablePath: CHROMIUM_PATH,
    acceptDownloads: true,
    downloadsPath: downloadsDir,
    viewport: options.viewport ?? { width: 1200, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    args: [
      `--disable-extensions-except=${extensionDir}`,
      `--load-extension=${extensionDir}`,
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const serviceWorker =
      context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 30_000 }));
    const extensionId = new URL(serviceWorker.url()).host;
    return {
      context,
      extensionId,
      serviceWorker,
      downloadsDir,
      url: (path) => `chrome-extension://${extensionId}/${path.replace(/^\//, '')}`,
      async close() {
        await context.close();
        await rm(profileDir, { recursive: true, force: true });
        await rm(downloadsDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context.close();
    await rm(profileDir, { recursive: true, force: true });
    await rm(downloadsDir, { recursive: true, force: true });
    throw error;
  }
}

export interface ExtensionRun {
  server: RunningServer;
  browser: ExtensionBrowser;
  /** Uncaught errors in any page the run opened: none is expected. */
  pageErrors: string[];
  /** A new tab of the given size whose uncaught errors land in pageErrors. */
  newPage(viewport: { width: number; height: number }): Promise<Page>;
}

/**
 * One e2e file's world, set up in beforeAll and torn down in afterAll: the real server on a random
 * loopback port, and Chromium with the test build `buildName` of the extension. The fields are filled
 * once beforeAll has run.
 */
export function extensionRun(buildName: string): ExtensionRun {
  const run = { pageErrors: [] as string[] } as ExtensionRun;
  run.newPage = async (viewport) => {
    const page = await run.browser.context.newPage();
    await page.setViewportSize(viewport);
    page.on('pageerror', (error) => run.pageErrors.push(`${page.url()}: ${error.message}`));
    return page;
  };
  beforeAll(async () => {
    assertChromium();
    run.server = await startServer();
    run.browser = await launchWithExtension(buildTestExtension(buildName));
    await mkdir(SCREENSHOTS_DIR, { recursive: true });
  });
  afterAll(async () => {
    await run.browser?.close();
    await run.server?.stop();
  });
  return run;
}
