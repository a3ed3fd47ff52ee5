/**
 * What an e2e scenario needs from a browser, so one scenario (test/e2e/scenarios/) runs in Chromium
 * (playwright-core, test/support/chromium-driver.ts) and in Firefox (puppeteer-core over WebDriver
 * BiDi, test/support/firefox.ts). Elements are found as a user finds them: by role and accessible
 * name, by the label of a field, or by the text on the page.
 */
import type { RunningServer } from './server';

export type Role = 'button' | 'link' | 'checkbox' | 'radio' | 'heading' | 'list';

export interface Viewport {
  width: number;
  height: number;
}

/** The autofill's inline button, inside its closed shadow root. */
export interface FillButton {
  /** Its accessible name (its text), as a screen reader hears it. */
  name: string;
  /** The centre of its host on the page, for a real (trusted) mouse click. */
  x: number;
  y: number;
}

export interface UiPage {
  /** A web page's address (not for extension pages). */
  goto(url: string): Promise<void>;
  /** Reloads and, for an extension page, waits until it has rendered again. */
  reload(): Promise<void>;
  /** Replaces the value of the field whose label is exactly `label`, typing as a user does. */
  fill(label: string, value: string): Promise<void>;
  inputValue(label: string): Promise<string>;
  /** A real click on the one element of this role and exact name. */
  click(role: Role, name: string): Promise<void>;
  /** Ticks the checkbox or radio whose name starts with `nameStart` (their names include hints). */
  check(role: 'checkbox' | 'radio', nameStart: string): Promise<void>;
  /** Waits until an element of this role and exact name is visible. */
  waitFor(role: Role, name: string): Promise<void>;
  count(role: Role, name: string): Promise<number>;
  isEnabled(role: Role, name: string): Promise<boolean>;
  /** The page's visible text (the body's innerText). */
  text(): Promise<string>;
  /** The visible text of each element matching a CSS selector, in document order, once one shows. */
  texts(selector: string): Promise<string[]>;
  /** Runs `fn` in the page (an extension page runs it with the extension's APIs). */
  evaluate<T>(fn: () => T | Promise<T>): Promise<T>;
  /**
   * Evaluates a script's source in the page through the driver's protocol (CDP, WebDriver BiDi), which an
   * extension page's CSP does not govern, and returns its (awaited) value.
   */
  evaluateScript(source: string): Promise<unknown>;
  /** Saves a PNG named `file` under SCREENSHOTS_DIR. */
  screenshot(file: string, options?: { fullPage?: boolean }): Promise<void>;
  /** Runs `action` (a click that downloads) and returns the file the browser saved. */
  download(action: () => Promise<void>): Promise<{ filename: string; text: string }>;
  autofillButton(): Promise<FillButton | null>;
  mouseClick(x: number, y: number): Promise<void>;
  bringToFront(): Promise<void>;
  close(): Promise<void>;
}

export interface Driver {
  readonly browser: 'chromium' | 'firefox';
  /** The real server of this file's run (set once beforeAll has run). */
  readonly server: RunningServer;
  /** How long the build under test leaves copied codes on the clipboard. */
  readonly clipboardClearMs: number;
  /** Uncaught errors in any page the run opened: none is expected. */
  readonly pageErrors: string[];
  /** The extension page `path` (popup.html, options.html) in a new tab, once it has rendered. */
  openExtensionPage(path: string, viewport: Viewport): Promise<UiPage>;
  /** A web page in a new tab. */
  openPage(url: string, viewport: Viewport): Promise<UiPage>;
  /** Runs `action` and returns the tab it opened, once its document has loaded. */
  nextPage(action: () => Promise<void>): Promise<UiPage>;
  /** The extension's own URL for `path` (chrome-extension:// or moz-extension://). */
  extensionUrl(path: string): string;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Whether the page's text holds `text` (whitespace collapsed), or one of its lines matches the pattern. */
export function showsText(pageText: string, text: string | RegExp): boolean {
  if (typeof text === 'string') return normalize(pageText).includes(normalize(text));
  return pageText.split('\n').some((line) => text.test(line.trim()));
}

/** Waits until the page shows `text`; the error names what was missing and what the page said. */
export async function waitForText(page: UiPage, text: string | RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    last = await page.text().catch((error: unknown) => `(unreadable: ${String(error)})`);
    if (showsText(last, text)) return;
    if (Date.now() > deadline) throw new Error(`Page never showed ${String(text)}. It shows:\n${last}`);
    await sleep(200);
  }
}

/** Polls `read` until `accept` holds, then returns its value; the error shows the last one read. */
export async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 15_000, what = 'condition' }: { timeoutMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what} not met in ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await sleep(250);
  }
}
