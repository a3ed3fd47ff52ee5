/**
 * Polls the signed-in user's status and audit events: keeps the toolbar badge current and raises a
 * browser notification when one of the user's backup codes was used to sign in.
 */
import browser from 'webextension-polyfill';
import type { Me } from '../../../shared/api';
import { createApi } from '../api';
import { showCodesLeft } from '../badge';
import { codeUsesAfter, markNotified, notifiedAt, ofEarlierSet, summarizeCodeUse } from '../code-use-events';
import { isSessionExpired } from '../errors';
import { t } from '../i18n';
import { savedServerUrl } from '../server-url';
import { forgetToken, readToken, TOKEN_KEY } from '../session-token';
import { browserVault } from '../vault';
import { isOwnUse } from '../vault/own-uses';
import { originOf } from '../vault/vault';

const ALARM = 'sparekey-poll';
const PERIOD_MINUTES = 1;

export interface CodeUseWatchOptions {
  /** Called with every /api/me the poll fetches (the autofill marks spent codes with it). */
  onMe?: (me: Me) => Promise<void>;
}

async function poll({ onMe }: CodeUseWatchOptions): Promise<void> {
  const [serverUrl, token] = await Promise.all([savedServerUrl(), readToken()]);
  if (!serverUrl || !token) {
    await showCodesLeft(null);
    return;
  }
  // Polls are not the user: they must not keep an idle session alive on the server.
  const api = createApi(serverUrl, token, { background: true });
  try {
    const [me, { events }, since] = await Promise.all([api.me(), api.myEvents(), notifiedAt()]);
    await showCodesLeft(me.backupCodes);
    await onMe?.(me);
    if (since === null) {
      // First look after install: older uses are in the popup notice; notify only from now on.
      await markNotified(new Date().toISOString());
      return;
    }
    const uses = codeUsesAfter(events, since);
    const newest = uses[0];
    if (!newest) return;
    await markNotified(newest.at);
    // This browser's own sign-ins (a filled code, or one typed in the popup) are no intrusion.
    const own = await browserVault().ownUses();
    const fresh = uses.filter((event) => !isOwnUse(event, own, originOf(serverUrl) ?? ''));
    const latest = fresh[0];
    if (!latest) return;
    const more = fresh.length > 1 ? ` ${t('codeUseMore', fresh.length - 1)}` : '';
    await browser.notifications.create(`sparekey-code-use-${latest.id}`, {
      type: 'basic',
      iconUrl: browser.runtime.getURL('icons/icon-128.png'),
      title: t('codeUseTitle'),
      message: `${summarizeCodeUse(latest, ofEarlierSet(latest, events))}${more}`,
    });
  } catch (error) {
    if (isSessionExpired(error)) {
      await forgetToken();
      await showCodesLeft(null);
    }
    // Unreachable or failing server: the next poll tries again; the popup shows the error if opened.
  }
}

async function ensureAlarm(): Promise<void> {
  if (!(await browser.alarms.get(ALARM))) {
    await browser.alarms.create(ALARM, { periodInMinutes: PERIOD_MINUTES, delayInMinutes: PERIOD_MINUTES });
  }
}

export function registerCodeUseWatch(options: CodeUseWatchOptions = {}): void {
  // Returning the promise lets callers (and tests) know when the work is done; browsers ignore it.
  browser.alarms.onAlarm.addListener((alarm) => (alarm.name === ALARM ? poll(options) : undefined));
  // A sign-in or sign-out shows in the badge right away, not at the next poll.
  browser.storage.session.onChanged.addListener((changes) => {
    if (TOKEN_KEY in changes) poll(options);
  });
  ensureAlarm();
}
