/**
 * Which server the extension talks to: storage.local, pre-filled from managed storage when IT set
 * `serverUrl` (managed_schema.json on Chromium, policies.json "3rdparty" on Firefox).
 */
import browser from 'webextension-polyfill';

export const SERVER_URL_KEY = 'serverUrl';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export type ServerUrlProblem = 'invalid' | 'insecure';

/** The canonical form of what a person typed (origin + path, no trailing slash), or why it is refused. */
export function parseServerUrl(input: string): { url: string } | { problem: ServerUrlProblem } {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    return { problem: 'invalid' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: 'invalid' };
  if (url.username || url.password || url.search || url.hash) return { problem: 'invalid' };
  // Passwords, codes and tokens cross this link: plain HTTP only where it never leaves the machine.
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) return { problem: 'insecure' };
  return { url: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

/**
 * The host permission for one server. Without a port it covers every port of the host (and Firefox's
 * patterns cannot carry one), so the content script's matches and the background's sender check add it.
 */
export function hostPattern(serverUrl: string): string {
  const { protocol, hostname } = new URL(serverUrl);
  return `${protocol}//${hostname}/*`;
}

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
