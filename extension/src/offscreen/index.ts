/** Chromium's offscreen document: the DOM the service worker lacks, for clipboard clearing only. */
import browser, { type Runtime } from 'webextension-polyfill';
import { clearClipboardIfHolds } from '../clipboard-dom';
import { isFromExtensionPage, type OffscreenMessage } from '../messages';

function isOffscreenMessage(message: unknown): message is OffscreenMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { target?: unknown }).target === 'offscreen'
  );
}

browser.runtime.onMessage.addListener((message: unknown, sender: Runtime.MessageSender) => {
  if (!isOffscreenMessage(message) || !isFromExtensionPage(sender)) return undefined;
  return clearClipboardIfHolds(message.digest);
});
