import browser from 'webextension-polyfill';
import type { BackupCodeStatus } from '../../shared/api';

/** The badge shows the codes left only once the server says it is time to make a new set. */
export async function showCodesLeft(status: BackupCodeStatus | null): Promise<void> {
  const text = status && status.total > 0 && status.warn ? String(status.remaining) : '';
  await browser.action.setBadgeText({ text });
  if (text) await browser.action.setBadgeBackgroundColor({ color: '#b3261e' });
}
