/**
 * Backup-code uses from the user's own audit events: the popup notice and the browser notification
 * both show the ones the user has not acknowledged, so a use they did not make gets noticed.
 */

import browser from 'webextension-polyfill';
import type { AuditEvent } from '../../shared/api';
import { formatDateTime, t } from './i18n';

const DISMISSED = 'codeUseDismissedAt';
const NOTIFIED = 'codeUseNotifiedAt';
/** Older uses are history, not news: the audit log still has them. */
const RECENT_MS = 30 * 24 * 60 * 60 * 1000;

export function codeUsesAfter(events: AuditEvent[], after: string | null, now = Date.now()): AuditEvent[] {
  const since = Math.max(after ? Date.parse(after) : 0, now - RECENT_MS);
  return events
    .filter((event) => event.type === 'backup_code_used' && Date.parse(event.at) > since)
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
}

async function readMark(key: string): Promise<string | null> {
  const value = (await browser.storage.local.get(key))[key];
  return typeof value === 'string' ? value : null;
}

export const dismissedAt = () => readMark(DISMISSED);
export const notifiedAt = () => readMark(NOTIFIED);
export const markDismissed = (at: string) => browser.storage.local.set({ [DISMISSED]: at });
export const markNotified = (at: string) => browser.storage.local.set({ [NOTIFIED]: at });

/** Who, when and from where: what a user needs to tell whether the use was theirs. */
export function describeCodeUse(event: AuditEvent): string {
  const who = event.subject?.username ?? event.actor?.username ?? '?';
  const where = event.ip ?? t('unknownPlace');
  const line = event.userAgent
    ? t('codeUseLineWithAgent', who, formatDateTime(event.at), where, event.userAgent)
    : t('codeUseLine', who, formatDateTime(event.at), where);
  const number = event.details?.number;
  return typeof number === 'number' ? `${t('codeUseNumber', number)} ${line}` : line;
}
