/**
 * Which server the extension talks to: storage.local, pre-filled from managed storage when IT set
 * `serverUrl` (managed_schema.json on Chromium, policies.json "3rdparty" on Firefox).
 */
import browser from 'webextension-polyfill';

import { hostPattern, parseServerUrl } from '../../shared/server-address';

export { hostPattern, parseServerUrl, type ServerUrlProblem } from '../../shared/server-address';

export const SERVER_URL_KEY = 'serverUrl';

export async function managedServerUrl(): Promise<string | null> {
  try {
    const value = (await browser.storage.managed.get(SERVER_URL_KEY))[SERVER_URL_KEY];
    return typeof value === 'string' && value ? value : null;
  } catch {
    // Firefox throws when no policy manages this extension: nothing preset.
    return null;
  }
}

/**
 * Calls `onUrl` with the address IT preset, now and whenever managed storage changes: right after a
 * force-install Chromium may load the policy's preset seconds after the popup first asked. Returns
 * the function that stops listening.
 */
export function watchManagedServerUrl(onUrl: (url: string) => void): () => void {
  let live = true;
  const report = (url: string | null) => {
    if (live && url) onUrl(url);
  };
  const onChanged = (changes: Record<string, browser.Storage.StorageChange>, area: string) => {
    if (area !== 'managed') return;
    const value = changes[SERVER_URL_KEY]?.newValue;
    report(typeof value === 'string' ? value : null);
  };
  browser.storage.onChanged.addListener(onChanged);
  managedServerUrl().then(report);
  return () => {
    live = false;
    browser.storage.onChanged.removeListener(onChanged);
  };
}

/**
 * The saved server URL, checked as when it was typed: storage.local is not written by us alone (an
 * older version, a synced profile, a hand edit), and every host permission, registration and sender
 * check is derived from it. A value that fails is treated as never configured.
 */
export async function savedServerUrl(): Promise<string | null> {
  const value = (await browser.storage.local.get(SERVER_URL_KEY))[SERVER_URL_KEY];
  if (typeof value !== 'string' || !value) return null;
  const parsed = parseServerUrl(value);
  return 'url' in parsed ? parsed.url : null;
}

export function saveServerUrl(url: string): Promise<void> {
  return browser.storage.local.set({ [SERVER_URL_KEY]: url });
}

export function hasHostPermission(serverUrl: string): Promise<boolean> {
  return browser.permissions.contains({ origins: [hostPattern(serverUrl)] });
}

/** Must run inside the click handler, before any await: browsers only prompt during a user gesture. */
export function requestHostPermission(serverUrl: string): Promise<boolean> {
  return browser.permissions.request({ origins: [hostPattern(serverUrl)] });
}
