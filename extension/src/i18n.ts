import browser from 'webextension-polyfill';
import type messages from '../_locales/en/messages.json';

/** Keys of the English catalogue, the reference: a missing key is a type error, not a blank label. */
export type MessageKey = keyof typeof messages;

export function t(key: MessageKey, ...substitutions: (string | number)[]): string {
  return browser.i18n.getMessage(key, substitutions.map(String)) || key;
}

/**
 * The accessible name of a control acting on one row of a table: its visible text first, so a speech
 * user who says what they see reaches it (WCAG 2.5.3), then what it acts on ("Reset password: alice").
 */
export function actionOn(visibleText: string, subject: string): string {
  return t('actionOn', visibleText.replace(/…$/, ''), subject);
}

/** Dates and times in the browser's UI language, so they read like the rest of the text. */
export function formatDateTime(iso: string): string {
  return new Date(iso).toLocaleString(browser.i18n.getUILanguage(), {
    dateStyle: 'medium',
    timeStyle: 'short',
  });
}

/** A date and time short enough for one line of the popup: "Dec 7, 12:31 AM". */
export function formatShortDateTime(iso: string): string {
  return new Date(iso).toLocaleString(browser.i18n.getUILanguage(), {
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
  });
}

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleDateString(browser.i18n.getUILanguage(), { dateStyle: 'medium' });
}
