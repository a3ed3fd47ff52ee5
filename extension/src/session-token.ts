/**
 * The session token lives in storage.session: memory only, gone when the browser closes, and not
 * readable by content scripts (their default access level), never in storage.local on disk.
 */
import browser from 'webextension-polyfill';

export const TOKEN_KEY = 'sessionToken';

export async function readToken(): Promise<string | null> {
  const value = (await browser.storage.session.get(TOKEN_KEY))[TOKEN_KEY];
  return typeof value === 'string' && value ? value : null;
}

export function storeToken(token: string): Promise<void> {
  return browser.storage.session.set({ [TOKEN_KEY]: token });
}

export function forgetToken(): Promise<void> {
  return browser.storage.session.remove(TOKEN_KEY);
}
