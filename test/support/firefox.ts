/**
 * Debian's Firefox ESR with the SHIPPED Firefox build of the extension, driven by puppeteer-core over
 * WebDriver BiDi (Playwright drives only its own Firefox build, whose download is not reachable, and
 * there is no geckodriver here). The scenario driver of test/support/driver.ts for Firefox; the
 * measured facts behind each workaround are in docs/EXTENSION.md (Tests).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { afterAll, beforeAll } from 'vitest';
import { SHIPPED } from '../../extension/manifests';
import { buildTestExtension, SCREENSHOTS_DIR } from './chromium';
import type { Driver, FillButton, Role, UiPage, Viewport } from './driver';
import { type RunningServer, startServer } from './server';

export const FIREFOX_PATH = '/usr/bin/firefox-esr';
/** Debian's French language pack: without it Firefox falls back to English without a word. */
export const FIREFOX_FRENCH_LANGPACK =
  '/usr/lib/firefox-esr/browser/extensions/langpack-fr@firefox-esr.mozilla.org.xpi';

const ROOT = resolve(import.meta.dirname, '../..');
export const GECKO_ID = (
  JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8')) as {
    browser_specific_settings: { gecko: { id: string } };
  }
).browser_specific_settings.gecko.id;
/** Chosen here and given to Firefox by a pref, so moz-extension:// URLs are known before the install. */
const EXTENSION_UUID = '5f1c7a52-3d0e-4b8e-9a61-2c4d8e7f9b10';
const SHIPPED_FIREFOX = SHIPPED.find((target) => target.browser === 'firefox');
const TIMEOUT_MS = 30_000;

export function assertFirefox(): void {
  if (!existsSync(FIREFOX_PATH)) throw new Error('Firefox not found: apt-get install -y firefox-esr');
}

export function assertFrenchLangpack(): void {
  if (!existsSync(FIREFOX_FRENCH_LANGPACK)) {
    throw new Error('Firefox French language pack not found: apt-get install -y firefox-esr-l10n-fr');
  }
}

const built = new Map<string, string>();

/**
 * The shipped Firefox build, unzipped in dist/<name> (a `firefox-e2e-*` name; extension/build.ts):
 * its own folder, so e2e files running side by side never rebuild under each other. Built once per
 * file: a second run in the same file reuses it.
 */
export function buildShippedFirefox(name: string): string {
  if (!name.startsWith('firefox-e2e')) throw new Error(`not a Firefox e2e build name: ${name}`);
  const dir = built.get(name) ?? buildTestExtension(name);
  built.set(name, dir);
  return dir;
}

export interface FirefoxBrowser {
  browser: Browser;
  /** moz-extension://<uuid>/<path> */
  url(path: string): string;
  downloadsDir: string;
  close(): Promise<void>;
}

/**
 * Firefox with `extensionDir` installed as a temporary add-on, or with nothing installed (null) when
 * the test has a policy install it.
 */
export async function launchFirefox(
  extensionDir: string | null,
  options: { viewport?: Viewport; prefs?: Record<string, unknown> } = {},
): Promise<FirefoxBrowser> {
  assertFirefox();
  if (extensionDir !== null && !existsSync(join(extensionDir, 'manifest.json'))) {
    throw new Error(`No built extension in ${extensionDir}: run the build first`);
  }
  const downloadsDir = await mkdtemp(join(tmpdir(), 'sparekey-downloads-'));
  const printsDir = await mkdtemp(join(tmpdir(), 'sparekey-prints-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    // A command Firefox never answers fails the test in a minute, not puppeteer's default three.
    protocolTimeout: 60_000,
    defaultViewport: options.viewport ?? { width: 1200, height: 900 },
    // Since Firefox 153, WebDriver may navigate only to web pages unless system access is allowed;
    // the tests open the extension's own moz-extension:// pages.
    args: ['--remote-allow-system-access'],
    extraPrefsFirefox: {
      'extensions.webextensions.uuids': JSON.stringify({ [GECKO_ID]: EXTENSION_UUID }),
      // permissions.request() from a real click resolves granted instead of waiting on a doorhanger
      // nothing can click: the shipped build's optional host permission is granted as a user would.
      'extensions.webextOptionalPermissionPrompts': false,
      // The tests read the clipboard to see what the extension wrote there; that read is the test's,
      // not the product's. On a busy machine Firefox refused it now and then (NotAllowedError: its
      // user-activation and focus checks), so the harness lifts them as Firefox's own tests do.
      'dom.events.testing.asyncClipboard': true,
      'dom.user_activation.transient.timeout': 60,
      'browser.download.folderList': 2,
      'browser.download.dir': downloadsDir,
      'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
      'browser.download.alwaysOpenPanel': false,
      // The print page calls window.print(): print to a PDF file as a user would confirm the dialog,
      // which headless Firefox would otherwise leave open, blocking the tab.
      'print.always_print_silent': true,
      print_printer: 'Mozilla Save to PDF',
      'print.printer_Mozilla_Save_to_PDF.print_to_file': true,
      'print.printer_Mozilla_Save_to_PDF.print_to_filename': join(printsDir, 'print.pdf'),
      ...options.prefs,
    },
  });
  const close = async () => {
    await browser.close();
    await rm(downloadsDir, { recursive: true, force: true });
    await rm(printsDir, { recursive: true, force: true });
  };
  try {
    if (extensionDir !== null) await browser.installExtension(extensionDir);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    browser,
    downloadsDir,
    url: (path) => `moz-extension://${EXTENSION_UUID}/${path.replace(/^\//, '')}`,
    close,
  };
}

/** Puppeteer's BiDi internals the public API does not reach (see the workarounds below). */
interface BidiRealm {
  evaluate(expression: string, awaitPromise: boolean, options?: object): Promise<EvaluateResult>;
  callFunction(declaration: string, awaitPromise: boolean, options?: object): Promise<EvaluateResult>;
}
interface BidiBrowsingContext {
  defaultRealm: BidiRealm;
  navigate(url: string, wait: 'none'): Promise<void>;
}
interface RemoteNode {
  type: string;
  sharedId?: string;
  value?: { localName?: string; children?: RemoteNode[]; shadowRoot?: RemoteNode | null };
}
type EvaluateResult = { type: 'success'; result: RemoteNode & { value?: unknown } } | { type: 'exception' };

const browsingContext = (page: Page) =>
  (page.mainFrame() as unknown as { browsingContext: BidiBrowsingContext }).browsingContext;

function findNode(node: RemoteNode | null | undefined, localName: string): RemoteNode | null {
  if (!node) return null;
  if (node.value?.localName === localName) return node;
  for (const child of node.value?.children ?? []) {
    const found = findNode(child, localName);
    if (found) return found;
  }
  return findNode(node.value?.shadowRoot, localName);
}

/**
 * The inline button lives in a closed shadow root: no selector reaches it, and page scripts see
 * `host.shadowRoot === null`. WebDriver BiDi serialises closed roots when asked
 * (includeShadowTree: 'all'), which gives the button's node to read its text; the host's box gives
 * where the real mouse clicks.
 */
async function autofillButton(page: Page): Promise<FillButton | null> {
  const realm = browsingContext(page).defaultRealm;
  const host = await realm.evaluate("document.querySelector('sparekey-autofill')", false, {
    serializationOptions: { includeShadowTree: 'all', maxDomDepth: 6 },
  });
  if (host.type !== 'success' || host.result.type !== 'node') return null;
  const button = findNode(host.result.value?.shadowRoot, 'button');
  if (!button?.sharedId) return null;
  const label = await realm.callFunction(
    '(button) => (button.getAttribute("aria-label") || button.textContent || "").trim()',
    false,
    { arguments: [{ sharedId: button.sharedId }] },
  );
  const box = await page
    .$eval('sparekey-autofill', (element) => {
      const rect = element.getBoundingClientRect();
      return { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2, seen: rect.width > 0 };
    })
    .catch(() => null);
  if (label.type !== 'success' || typeof label.result.value !== 'string' || !box?.seen) return null;
  return { name: label.result.value, x: box.x, y: box.y };
}

// biome-ignore lint/performance/useDomNodeTextContent: the text as rendered (hidden parts left out) is what a user reads.
const bodyText = () => document.body.innerText;

const aria = (role: Role, name: string) => `::-p-aria([name=${JSON.stringify(name)}][role="${role}"])`;

/** An extension page has rendered when its app root has content and it is not the document it replaced. */
async function waitRendered(page: Page): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    // Extension pages forbid the Function() that page.waitForFunction needs (their CSP): poll from here.
    const ready = await page
      .evaluate(
        () =>
          document.readyState === 'complete' &&
          !document.documentElement.hasAttribute('data-e2e-replaced') &&
          (document.getElementById('app')?.childElementCount ?? 0) > 0,
      )
      .catch(() => false);
    if (ready) return;
    if (Date.now() > deadline) throw new Error('extension page did not render in 30 s');
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** `page.goto` never resolves for moz-extension:// pages (puppeteer #14314): navigate without waiting. */
export async function openExtensionUrl(page: Page, url: string): Promise<void> {
  await page.evaluate(() => document.documentElement.setAttribute('data-e2e-replaced', ''));
  await browsingContext(page).navigate(url, 'none');
  await waitRendered(page);
}

async function newDownload(dir: string, before: Set<string>): Promise<string> {
  const deadline = Date.now() + TIMEOUT_MS;
  let lastSize = -1;
  for (;;) {
    const names = (await readdir(dir)).filter((name) => !before.has(name) && !name.endsWith('.part'));
    if (names.length > 1) throw new Error(`more than one download: ${names.join(', ')}`);
    const [name] = names;
    if (name) {
      // Firefox writes through a .part file and renames it; a stable size means the write is done.
      const { size } = await stat(join(dir, name));
      if (size > 0 && size === lastSize) return name;
      lastSize = size;
    }
    if (Date.now() > deadline) throw new Error('no download arrived in 30 s');
    await new Promise((done) => setTimeout(done, 150));
  }
}

export function puppeteerPage(page: Page, firefox: FirefoxBrowser, isExtensionPage: boolean): UiPage {
  /**
   * Polls from here rather than with waitForSelector, whose in-page wait misses elements that appear
   * after a re-render on extension pages; on timeout the error says what the page showed instead.
   */
  const visible = async (role: Role, name: string): Promise<ElementHandle<Element>> => {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      for (const handle of await page.$$(aria(role, name)).catch(() => [])) {
        if (await handle.isVisible().catch(() => false)) return handle;
      }
      if (Date.now() > deadline) {
        const shown = await page.evaluate(bodyText).catch(() => '(unreadable)');
        throw new Error(`no visible ${role} "${name}" in ${TIMEOUT_MS} ms. The page shows:\n${shown}`);
      }
      await new Promise((done) => setTimeout(done, 150));
    }
  };
  const one = async (role: Role, name: string): Promise<ElementHandle<Element>> => {
    const handle = await visible(role, name);
    const all = await page.$$(aria(role, name));
    if (!handle || all.length !== 1) throw new Error(`${all.length} elements are ${role} "${name}"`);
    return handle;
  };
  const byLabel = async (label: string): Promise<ElementHandle<HTMLInputElement>> => {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const handle = await page.evaluateHandle((wanted) => {
        const norm = (text: string) => text.replace(/\s+/g, ' ').trim();
        const labelled = [...document.querySelectorAll('label')]
          .filter((label) => norm(label.textContent ?? '') === wanted)
          .map((label) => label.control);
        const named = [...document.querySelectorAll('[aria-label]')].filter(
          (element) => element.getAttribute('aria-label') === wanted,
        );
        const found = [...new Set([...labelled, ...named])].filter((element) => element !== null);
        return found.length === 1 ? (found[0] as HTMLInputElement) : null;
      }, label);
      const element = handle.asElement() as ElementHandle<HTMLInputElement> | null;
      if (element) return element;
      if (Date.now() > deadline) throw new Error(`no single field labelled "${label}"`);
      await new Promise((done) => setTimeout(done, 150));
    }
  };
  return {
    goto: async (url) => {
      await page.goto(url);
    },
    reload: async () => {
      if (!isExtensionPage) {
        await page.reload();
        return;
      }
      // A BiDi reload leaves puppeteer's accessibility queries on the old document; opening the
      // same address again does not.
      await openExtensionUrl(page, await page.evaluate(() => location.href));
    },
    fill: async (label, value) => {
      const field = await byLabel(label);
      await field.click();
      await page.keyboard.down('Control');
      await page.keyboard.press('a');
      await page.keyboard.up('Control');
      await page.keyboard.press('Backspace');
      if (value) await page.keyboard.type(value);
    },
    inputValue: async (label) => (await byLabel(label)).evaluate((field) => field.value),
    click: async (role, name) => {
      await (await one(role, name)).click();
    },
    check: async (role, nameStart) => {
      const handle = await page.evaluateHandle(
        (type, start) =>
          [...document.querySelectorAll<HTMLInputElement>(`input[type="${type}"]`)].find((box) =>
            [...(box.labels ?? [])].some((label) =>
              (label.textContent ?? '').replace(/\s+/g, ' ').trim().startsWith(start),
            ),
          ) ?? null,
        role,
        nameStart,
      );
      const box = handle.asElement() as ElementHandle<HTMLInputElement> | null;
      if (!box) throw new Error(`no ${role} named "${nameStart}…"`);
      if (!(await box.evaluate((element) => element.checked))) await box.click();
    },
    waitFor: async (role, name) => {
      await visible(role, name);
    },
    count: async (role, name) => (await page.$$(aria(role, name))).length,
    isEnabled: async (role, name) =>
      (await one(role, name)).evaluate(
        (element) =>
          !(element as HTMLButtonElement).disabled && element.getAttribute('aria-disabled') !== 'true',
      ),
    text: () => page.evaluate(bodyText),
    texts: async (selector) => {
      await page.waitForSelector(selector, { visible: true, timeout: TIMEOUT_MS });
      return page.$$eval(selector, (elements) =>
        // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered, as Playwright's allInnerTexts.
        elements.map((element) => (element as HTMLElement).innerText),
      );
    },
    evaluate: (fn) => page.evaluate(fn) as never,
    evaluateScript: (source) => page.evaluate(source),
    screenshot: async (file, options) => {
      await page.screenshot({
        path: join(SCREENSHOTS_DIR, file) as `${string}.png`,
        fullPage: options?.fullPage,
      });
    },
    download: async (action) => {
      const before = new Set(await readdir(firefox.downloadsDir));
      await action();
      const filename = await newDownload(firefox.downloadsDir, before);
      return { filename, text: await readFile(join(firefox.downloadsDir, filename), 'utf8') };
    },
    autofillButton: () => autofillButton(page),
    mouseClick: (x, y) => page.mouse.click(x, y),
    bringToFront: () => page.bringToFront(),
    close: () => page.close(),
  };
}

/**
 * One e2e file's Firefox world as a Driver: the real server on a random loopback port and Firefox
 * with the shipped build `buildName` (a `firefox-e2e-*` name), set up in beforeAll, closed in afterAll.
 */
export function firefoxDriver(
  buildName: string,
  options: {
    prefs?: Record<string, unknown>;
    viewport?: Viewport;
    /** A check of what the run needs besides Firefox (e.g. assertFrenchLangpack); throws to fail. */
    before?: () => void;
  } = {},
): Driver {
  let server: RunningServer | undefined;
  let firefox: FirefoxBrowser | undefined;
  const pageErrors: string[] = [];
  const ready = () => {
    if (!firefox) throw new Error('Firefox is not running: use the driver inside a test');
    return firefox;
  };
  const track = (page: Page) => {
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${String(error)}`));
    return page;
  };
  const newPage = async (viewport: Viewport) => {
    const page = track(await ready().browser.newPage());
    await page.setViewport(viewport);
    return page;
  };

  beforeAll(async () => {
    assertFirefox();
    options.before?.();
    server = await startServer();
    firefox = await launchFirefox(buildShippedFirefox(buildName), options);
    await mkdir(SCREENSHOTS_DIR, { recursive: true });
  });
  afterAll(async () => {
    await firefox?.close();
    await server?.stop();
  });

  return {
    browser: 'firefox',
    get server() {
      if (!server) throw new Error('the server is not running: use the driver inside a test');
      return server;
    },
    clipboardClearMs: SHIPPED_FIREFOX?.clipboardClearMs ?? 30_000,
    pageErrors,
    async openExtensionPage(path, viewport) {
      const page = await newPage(viewport);
      await openExtensionUrl(page, ready().url(path));
      return puppeteerPage(page, ready(), true);
    },
    async openPage(url, viewport) {
      const page = await newPage(viewport);
      await page.goto(url);
      return puppeteerPage(page, ready(), false);
    },
    async nextPage(action) {
      const { browser } = ready();
      const opened = new Promise<Page | null>((done) =>
        browser.once('targetcreated', (target) => done(target.page())),
      );
      await action();
      const page = await opened;
      if (!page) throw new Error('the action opened no tab');
      track(page);
      await waitRendered(page);
      return puppeteerPage(page, ready(), true);
    },
    extensionUrl: (path) => ready().url(path),
  };
}
