/**
 * The scenario driver (test/support/driver.ts) over playwright-core and Debian's Chromium, on top of
 * extensionRun: the real server and the test build `buildName` for one e2e file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { extensionRun, SCREENSHOTS_DIR } from './chromium';
import type { Driver, Role, UiPage, Viewport } from './driver';
import { fillButton } from './fill-button';

/** The test build clears the clipboard after 2 s (extension/manifests.ts E2E). */
const TEST_BUILD_CLIPBOARD_CLEAR_MS = 2_000;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function playwrightPage(page: Page): UiPage {
  const byRole = (role: Role, name: string) => page.getByRole(role, { name, exact: true });
  const byLabel = (label: string) => page.getByLabel(label, { exact: true });
  return {
    goto: async (url) => {
      await page.goto(url);
    },
    reload: async () => {
      await page.reload();
    },
    fill: (label, value) => byLabel(label).fill(value),
    inputValue: (label) => byLabel(label).inputValue(),
    click: (role, name) => byRole(role, name).click(),
    check: (role, nameStart) =>
      page.getByRole(role, { name: new RegExp(`^${escapeRegExp(nameStart)}`) }).check(),
    waitFor: (role, name) => byRole(role, name).waitFor(),
    count: (role, name) => byRole(role, name).count(),
    isEnabled: (role, name) => byRole(role, name).isEnabled(),
    // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered is what a user reads.
    text: () => page.locator('body').innerText(),
    texts: async (selector) => {
      await page.locator(selector).first().waitFor();
      return page.locator(selector).allInnerTexts();
    },
    evaluate: (fn) => page.evaluate(fn),
    evaluateScript: (source) => page.evaluate(source),
    screenshot: async (file, options) => {
      await page.screenshot({ path: join(SCREENSHOTS_DIR, file), fullPage: options?.fullPage ?? false });
    },
    download: async (action) => {
      const [download] = await Promise.all([page.waitForEvent('download'), action()]);
      const path = await download.path();
      return { filename: download.suggestedFilename(), text: await readFile(path, 'utf8') };
    },
    autofillButton: () => fillButton(page),
    mouseClick: (x, y) => page.mouse.click(x, y),
    bringToFront: () => page.bringToFront(),
    close: () => page.close(),
  };
}

/**
 * One e2e file's Chromium world as a Driver (fields valid once beforeAll has run); every page it
 * opens uses `colorScheme` (light by default).
 */
export function chromiumDriver(buildName: string, options: { colorScheme?: 'light' | 'dark' } = {}): Driver {
  const run = extensionRun(buildName);
  const newPage = async (viewport: Viewport) => {
    const page = await run.newPage(viewport);
    if (options.colorScheme) await page.emulateMedia({ colorScheme: options.colorScheme });
    return page;
  };
  return {
    browser: 'chromium',
    get server() {
      return run.server;
    },
    clipboardClearMs: TEST_BUILD_CLIPBOARD_CLEAR_MS,
    pageErrors: run.pageErrors,
    async openExtensionPage(path, viewport) {
      const page = await newPage(viewport);
      await page.goto(run.browser.url(path));
      return playwrightPage(page);
    },
    async openPage(url, viewport) {
      const page = await newPage(viewport);
      await page.goto(url);
      return playwrightPage(page);
    },
    async nextPage(action) {
      const [page] = await Promise.all([run.browser.context.waitForEvent('page'), action()]);
      page.on('pageerror', (error) => run.pageErrors.push(`${page.url()}: ${error.message}`));
      await page.waitForLoadState();
      return playwrightPage(page);
    },
    extensionUrl: (path) => run.browser.url(path),
  };
}
