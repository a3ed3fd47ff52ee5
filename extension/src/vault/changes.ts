/**
 * Calls back when any context changes the kept sets or their unlocked keys: the popup's cards and its
 * sign-in's fill show the same state whichever of them (or the background) changed it.
 */
import browser from 'webextension-polyfill';
import { OWN_USES_KEY } from './own-uses';
import { RECORDS_KEY, SESSION_KEYS } from './record';

export function onVaultChanged(callback: () => void): () => void {
  const listener = (changes: Record<string, unknown>) => {
    if (RECORDS_KEY in changes || SESSION_KEYS in changes || OWN_USES_KEY in changes) callback();
  };
  browser.storage.local.onChanged.addListener(listener);
  browser.storage.session.onChanged.addListener(listener);
  return () => {
    browser.storage.local.onChanged.removeListener(listener);
    browser.storage.session.onChanged.removeListener(listener);
  };
}
