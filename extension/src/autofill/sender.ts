import type { Runtime } from 'webextension-polyfill';
import { isMfaStep } from './server-step';

/**
 * True only for our own content script in the top frame of a tab showing the configured server's MFA
 * step. Every field is checked because a page on another origin, another page of the server's origin,
 * a frame inside the server's page, or another extension must never learn a code or even whether codes
 * are kept. The exact origin (scheme, host, port) and path are checked here because Firefox's match
 * patterns cannot carry a port.
 */
export function isTrustedContentSender(
  sender: Runtime.MessageSender,
  extensionId: string,
  serverUrl: string | null,
): boolean {
  if (!serverUrl || sender.id !== extensionId) return false;
  // Content scripts come from a tab; extension pages (popup, options) have no business here.
  if (!sender.tab || sender.tab.id === undefined || sender.frameId !== 0) return false;
  if (!isMfaStep(sender.url, serverUrl)) return false;
  // The tab may have navigated since the frame sent this; both must still be the MFA step.
  if (sender.tab.url !== undefined && !isMfaStep(sender.tab.url, serverUrl)) return false;
  // Chromium also reports the sender's origin directly (an opaque or sandboxed frame shows "null").
  const origin = (sender as { origin?: string }).origin;
  return origin === undefined || origin === new URL(serverUrl).origin;
}
