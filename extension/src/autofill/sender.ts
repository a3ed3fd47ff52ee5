import type { Runtime } from 'webextension-polyfill';
import { originOf } from '../vault/vault';

/**
 * True only for our own content script in the top frame of a tab showing the configured server.
 * Every field is checked because a page on another origin, a frame inside the server's page, or
 * another extension must never learn a code or even whether codes are kept.
 */
export function isTrustedContentSender(
  sender: Runtime.MessageSender,
  extensionId: string,
  serverOrigin: string | null,
): boolean {
  if (!serverOrigin || sender.id !== extensionId) return false;
  // Content scripts come from a tab; extension pages (popup, options) have no business here.
  if (!sender.tab || sender.tab.id === undefined || sender.frameId !== 0) return false;
  if (!sender.url || originOf(sender.url) !== serverOrigin) return false;
  // The tab may have navigated since the frame sent this; both must still be the server.
  if (sender.tab.url !== undefined && originOf(sender.tab.url) !== serverOrigin) return false;
  // Chromium also reports the sender's origin directly (an opaque or sandboxed frame shows "null").
  const origin = (sender as { origin?: string }).origin;
  return origin === undefined || origin === serverOrigin;
}
