/**
 * The content script is registered at run time for the configured server only, once its host
 * permission is granted, never for every site: it reads the page, so it runs where it is needed.
 */
import browser from 'webextension-polyfill';
import { hostPattern } from '../server-url';

export const CONTENT_SCRIPT_ID = 'sparekey-autofill';
/** The content script bundle in the built extension's root (one classic IIFE script). */
export const CONTENT_SCRIPT_FILE = 'content.js';

/** Registers, updates or removes the content script to match `serverUrl` and its permission. */
export async function syncContentScript(serverUrl: string | null): Promise<'registered' | 'unregistered'> {
  const pattern = serverUrl ? hostPattern(serverUrl) : null;
  const granted = pattern !== null && (await browser.permissions.contains({ origins: [pattern] }));
  const existing = await browser.scripting.getRegisteredContentScripts({ ids: [CONTENT_SCRIPT_ID] });
  if (!granted || pattern === null) {
    if (existing.length > 0) await browser.scripting.unregisterContentScripts({ ids: [CONTENT_SCRIPT_ID] });
    return 'unregistered';
  }
  const script = {
    id: CONTENT_SCRIPT_ID,
    matches: [pattern],
    js: [CONTENT_SCRIPT_FILE],
    runAt: 'document_idle' as const,
    // The top frame only: a code field framed into the server's page by someone else gets nothing.
    allFrames: false,
  };
  if (existing.length === 0) await browser.scripting.registerContentScripts([script]);
  else if (existing[0]?.matches?.join(' ') !== pattern)
    await browser.scripting.updateContentScripts([script]);
  return 'registered';
}
