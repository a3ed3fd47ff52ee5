/**
 * Backup-code uses from the user's own audit events: the popup notice and the browser notification
 * both show the ones the user has not acknowledged, so a use they did not make gets noticed.
 */

import browser from 'webextension-polyfill';
import type { AuditEvent } from '../../shared/api';
import { formatDateTime, formatShortDateTime, t } from './i18n';
import { clientFamily } from './user-agent';

const DISMISSED = 'codeUseDismissedAt';
const NOTIFIED = 'codeUseNotifiedAt';
/** Older uses are history, not news: the audit log still has them. */
const RECENT_MS = 30 * 24 * 60 * 60 * 1000;

export function codeUsesAfter(events: AuditEvent[], after: string | null, now = Date.now()): AuditEvent[] {
  const since = Math.max(after ? Date.parse(after) : 0, now - RECENT_MS);
  const seen = new Set<string>();
  return events
    .filter((event) => event.type === 'backup_code_used' && Date.parse(event.at) > since)
    .filter((event) => !seen.has(event.id) && seen.add(event.id))
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
}

/** A use of a code from a set the user has since replaced: its number now names another code. */
export function ofEarlierSet(use: AuditEvent, events: AuditEvent[]): boolean {
  const at = Date.parse(use.at);
  return events.some((event) => event.type === 'backup_codes_generated' && Date.parse(event.at) > at);
}

async function readMark(key: string): Promise<string | null> {
  const value = (await browser.storage.local.get(key))[key];
  return typeof value === 'string' ? value : null;
}

export const dismissedAt = () => readMark(DISMISSED);
export const notifiedAt = () => readMark(NOTIFIED);
export const markDismissed = (at: string) => browser.storage.local.set({ [DISMISSED]: at });
export const markNotified = (at: string) => browser.storage.local.set({ [NOTIFIED]: at });

/** "Chrome on Linux": the browser and system named from the user agent, never the string itself. */
export function describeClient(userAgent: string | null): string {
  const { browser, os } = clientFamily(userAgent);
  if (browser && os) return t('clientOn', browser, os);
  return browser ?? (os ? t('clientOn', t('unknownBrowser'), os) : t('unknownClient'));
}

/** One short line: the code's number, when, which client and from where. */
export function summarizeCodeUse(event: AuditEvent, earlierSet = false): string {
  const number = typeof event.details?.number === 'number' ? event.details.number : '?';
  return t(
    earlierSet ? 'codeUseShortEarlierSet' : 'codeUseShort',
    number,
    formatShortDateTime(event.at),
    describeClient(event.userAgent),
    event.ip ?? t('unknownPlace'),
  );
}

/** Who, when and from where, with the client as it named itself: the details behind the short line. */
export function describeCodeUse(event: AuditEvent): string {
  const who = event.subject?.username ?? event.actor?.username ?? '?';
  const where = event.ip ?? t('unknownPlace');
  const line = event.userAgent
    ? t('codeUseLineWithAgent', who, formatDateTime(event.at), where, event.userAgent)
    : t('codeUseLine', who, formatDateTime(event.at), where);
  const number = event.details?.number;
  return typeof number === 'number' ? `${t('codeUseNumber', number)} ${line}` : line;
}
