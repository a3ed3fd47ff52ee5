/** The messages extension pages, the background and the offscreen document send each other. */
import browser, { type Runtime } from 'webextension-polyfill';

export interface PrintSheet {
  serverUrl: string;
  username: string;
  generatedAt: string;
  codes: { number: number; code: string }[];
}

export type BackgroundMessage =
  /** Clear the clipboard later if it still holds text with this digest (the codes never leave the popup). */
  | { type: 'clipboard:clear-later'; digest: string }
  | { type: 'print:open'; sheet: PrintSheet }
  | { type: 'print:take' };

export type OffscreenMessage = { target: 'offscreen'; type: 'clipboard:clear-if-holds'; digest: string };

export function sendToBackground(message: BackgroundMessage): Promise<unknown> {
  return browser.runtime.sendMessage(message);
}

/**
 * True for the extension's own pages (popup, options, print, offscreen). Content scripts share the
 * extension id but run inside web pages, so their sender URL is the page's: they never get codes.
 */
export function isFromExtensionPage(sender: Runtime.MessageSender): boolean {
  return sender.id === browser.runtime.id && (sender.url ?? '').startsWith(browser.runtime.getURL('/'));
}

export function isBackgroundMessage(message: unknown): message is BackgroundMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string'
  );
}
