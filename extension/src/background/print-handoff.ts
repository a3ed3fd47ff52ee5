/**
 * Hands a new set from the popup to the print page. The popup closes as soon as the tab opens, so
 * the background holds the sheet in memory until the print page takes it, once.
 */
import browser, { type Runtime } from 'webextension-polyfill';
import { isBackgroundMessage, isFromExtensionPage, type PrintSheet } from '../messages';

let pending: PrintSheet | null = null;

export function registerPrintHandoff(): void {
  browser.runtime.onMessage.addListener((message: unknown, sender: Runtime.MessageSender) => {
    if (!isBackgroundMessage(message) || !isFromExtensionPage(sender)) return undefined;
    if (message.type === 'print:open') {
      pending = message.sheet;
      return browser.tabs.create({ url: browser.runtime.getURL('print.html') }).then(() => true);
    }
    if (message.type === 'print:take') {
      const sheet = pending;
      pending = null;
      return Promise.resolve(sheet);
    }
    return undefined;
  });
}
