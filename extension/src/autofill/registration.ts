/**
 * The content script is registered at run time for the configured server's MFA step only, once its
 * host permission is granted, never for every site or every page of the host: it reads the page, so it
 * runs where a code may go.
 */
import browser from 'webextension-polyfill';
import { BROWSER } from '../build-constants';
import { hostPattern } from '../server-url';
import { mfaStepMatches } from './server-step';

export const CONTENT_SCRIPT_ID = 'sparekey-autofill';
/** The content script bundle in the built extension's root (one classic IIFE script). */
export const CONTENT_SCRIPT_FILE = 'content.js';

/** Registers, updates or removes the content script to match `serverUrl` and its permission. */
export async function syncContentScript(
  serverUrl: string | null,
  browserName: 'chromium' | 'firefox' = BROWSER,
): Promise<'registered' | 'unregistered'> {
  const pattern = serverUrl ? hostPattern(serverUrl) : null;
  const granted = pattern !== null && (await browser.permissions.contains({ origins: [pattern] }));
  const existing = await browser.scripting.getRegisteredContentScripts({ ids: [CONTENT_SCRIPT_ID] });
  if (!granted || !serverUrl) {
    if (existing.length > 0) await browser.scripting.unregisterContentScripts({ ids: [CONTENT_SCRIPT_ID] });
    return 'unregistered';
  }
  const matches = mfaStepMatches(serverUrl, browserName === 'chromium');
  const script = {
    id: CONTENT_SCRIPT_ID,
    matches,
    js: [CONTENT_SCRIPT_FILE],
    runAt: 'document_idle' as const,
    // The top frame only: a code field framed into the server's page by someone else gets nothing.
    allFrames: false,
  };
  if (existing.length === 0) await browser.scripting.registerContentScripts([script]);
  else if (existing[0]?.matches?.join(' ') !== matches.join(' '))
    await browser.scripting.updateContentScripts([script]);
  return 'registered';
}
