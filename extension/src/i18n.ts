import browser from 'webextension-polyfill';
import type messages from '../_locales/en/messages.json';

/** Keys of the English catalogue, the reference: a missing key is a type error, not a blank label. */
export type MessageKey = keyof typeof messages;

export function t(key: MessageKey, ...substitutions: (string | number)[]): string {
  return browser.i18n.getMessage(key, substitutions.map(String)) || key;
}

/** Dates and times in the browser's UI language, so they read like the rest of the text. */
export function formatDateTime(iso: string): string {
  return new Date(iso).toLocaleString(browser.i18n.getUILanguage(), {
    dateStyle: 'medium',
    timeStyle: 'short',
  });
}

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleDateString(browser.i18n.getUILanguage(), { dateStyle: 'medium' });
}
