/**
 * Asks the content script in the active tab to fill, on an explicit user request from the keyboard
 * shortcut or the popup. Works from the background and from the popup alike.
 */
import browser, { type Tabs } from 'webextension-polyfill';
import { originOf } from '../vault/vault';
import { AUTOFILL_TRIGGER, type TriggerReply, type TriggerRequest } from './messages';
import { isMfaStep } from './server-step';

export type ActiveTabFill = TriggerReply | { filled: false; reason: 'not_server_tab' | 'no_content_script' };

export async function fillInActiveTab(serverUrl: string | null, tab?: Tabs.Tab): Promise<ActiveTabFill> {
  const active = tab ?? (await browser.tabs.query({ active: true, currentWindow: true }))[0];
  const origin = serverUrl ? originOf(serverUrl) : null;
  // tab.url is visible only with the server's host permission, which is also what the fill needs.
  if (!origin || active?.id === undefined || !active.url || originOf(active.url) !== origin) {
    return { filled: false, reason: 'not_server_tab' };
  }
  // The content script runs on the MFA step only: elsewhere on the server there is no field to fill.
  if (!isMfaStep(active.url, serverUrl)) return { filled: false, reason: 'no_field' };
  const request: TriggerRequest = { type: AUTOFILL_TRIGGER };
  try {
    const reply = (await browser.tabs.sendMessage(active.id, request, { frameId: 0 })) as
      | TriggerReply
      | undefined;
    return reply ?? { filled: false, reason: 'no_content_script' };
  } catch {
    // No content script in that tab (opened before the permission was granted): a reload adds it.
    return { filled: false, reason: 'no_content_script' };
  }
}
