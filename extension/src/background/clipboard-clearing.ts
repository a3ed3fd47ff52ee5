/**
 * Clears copied codes from the clipboard after CLIPBOARD_CLEAR_MS, if it still holds them. An alarm,
 * not a timer: the service worker (Chromium) or event page (Firefox) may be unloaded meanwhile. Only
 * the SHA-256 of what was copied is kept, in session storage (memory), never the codes.
 */
import browser, { type Runtime } from 'webextension-polyfill';
import { BROWSER, CLIPBOARD_CLEAR_MS } from '../build-constants';
import { clearClipboardIfHolds } from '../clipboard-dom';
import { isBackgroundMessage, isFromExtensionPage, type OffscreenMessage } from '../messages';

const ALARM = 'sparekey-clear-clipboard';
const KEY = 'clipboardDigest';

interface OffscreenApi {
  createDocument(parameters: { url: string; reasons: string[]; justification: string }): Promise<void>;
  closeDocument(): Promise<void>;
}

/** The offscreen API, reached through the polyfill (it passes namespaces it does not know straight through). */
const offscreen = () => (browser as unknown as { offscreen: OffscreenApi }).offscreen;

async function clearOnChromium(digest: string): Promise<boolean> {
  try {
    await offscreen().createDocument({
      url: 'offscreen.html',
      reasons: ['CLIPBOARD'],
      justification: 'Clear copied backup codes from the clipboard after 30 seconds.',
    });
  } catch {
    // Only one offscreen document may exist; one left over from an interrupted run is fine to reuse.
  }
  try {
    const message: OffscreenMessage = { target: 'offscreen', type: 'clipboard:clear-if-holds', digest };
    return (await browser.runtime.sendMessage(message)) === true;
  } finally {
    await offscreen()
      .closeDocument()
      .catch(() => undefined);
  }
}

async function clearNow(): Promise<void> {
  const digest = (await browser.storage.session.get(KEY))[KEY];
  await browser.storage.session.remove(KEY);
  if (typeof digest !== 'string') return;
  if (BROWSER === 'chromium') await clearOnChromium(digest);
  else await clearClipboardIfHolds(digest);
}

async function scheduleClear(digest: string): Promise<boolean> {
  await browser.storage.session.set({ [KEY]: digest });
  await browser.alarms.create(ALARM, { when: Date.now() + CLIPBOARD_CLEAR_MS });
  return true;
}

export function registerClipboardClearing(): void {
  browser.runtime.onMessage.addListener((message: unknown, sender: Runtime.MessageSender) => {
    if (!isBackgroundMessage(message) || message.type !== 'clipboard:clear-later') return undefined;
    if (!isFromExtensionPage(sender) || !/^[0-9a-f]{64}$/.test(message.digest)) return undefined;
    return scheduleClear(message.digest);
  });
  // Returning the promise lets callers (and tests) know when the work is done; browsers ignore it.
  browser.alarms.onAlarm.addListener((alarm) => (alarm.name === ALARM ? clearNow() : undefined));
}
