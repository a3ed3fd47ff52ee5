/**
 * The background half of autofill: keeps the content script registered for the configured server,
 * answers its requests after checking who sent them, hands out one code per user request, syncs spent
 * numbers with the server, handles the keyboard shortcut and the vault's idle lock.
 */
import browser, { type Runtime } from 'webextension-polyfill';
import type { Me } from '../../../shared/api';
import { createApi } from '../api';
import { SERVER_URL_KEY, savedServerUrl } from '../server-url';
import { readToken } from '../session-token';
import { browserVault } from '../vault';
import { originOf, type SigningIn, VAULT_IDLE_ALARM, type Vault } from '../vault/vault';
import {
  AUTOFILL_FILL,
  type ContentRequest,
  FILL_COMMAND,
  type FillReply,
  isContentRequest,
  type StatusReply,
} from './messages';
import { syncContentScript } from './registration';
import { isTrustedContentSender } from './sender';
import { type ActiveTabFill, fillInActiveTab } from './trigger';

export interface AutofillOptions {
  vault?: Vault;
  /** The configured server URL (storage.local), or null before first run. */
  serverUrl?: () => Promise<string | null>;
  /** GET /api/me with the extension's session, or null when signed out or unreachable. */
  fetchMe?: () => Promise<Me | null>;
}

export interface Autofill {
  /** Follows the server URL and its permission by itself; callable for a refresh on demand. */
  refreshRegistration(): Promise<void>;
  fillInActiveTab(): Promise<ActiveTabFill>;
  /** Marks spent what the server reports used; call with a fresh /api/me whenever one is fetched. */
  applyMe(me: Me): Promise<void>;
}

async function defaultFetchMe(serverUrl: () => Promise<string | null>): Promise<Me | null> {
  const [url, token] = await Promise.all([serverUrl(), readToken()]);
  if (!url || !token) return null;
  try {
    // The user did not ask for this sync: it must not keep their idle session alive.
    return await createApi(url, token, { background: true }).me();
  } catch {
    // Offline or signed out: handed-out codes stay skipped until a later sync.
    return null;
  }
}

/** Tries to open the popup so the user can unlock; browsers refuse without a recent gesture, which is fine. */
async function offerUnlock(): Promise<void> {
  try {
    await (browser.action as { openPopup?: () => Promise<void> }).openPopup?.();
  } catch {
    // The button's own text tells the user to unlock from the toolbar.
  }
}

/** Who the content script says the page signs in; undefined when the page names no one. */
function signingInOf({ username, userId }: ContentRequest): SigningIn | undefined {
  if (username === undefined && userId === undefined) return undefined;
  return { ...(username === undefined ? {} : { username }), ...(userId === undefined ? {} : { userId }) };
}

export function installAutofill(options: AutofillOptions = {}): Autofill {
  const vault = options.vault ?? browserVault();
  const serverUrl = options.serverUrl ?? savedServerUrl;
  const fetchMe = options.fetchMe ?? (() => defaultFetchMe(serverUrl));

  let registering: Promise<unknown> = Promise.resolve();
  const refreshRegistration = async () => {
    // One at a time: overlapping registrations of the same id fail with "duplicate script id".
    registering = registering.then(
      async () => syncContentScript(await serverUrl()),
      async () => syncContentScript(await serverUrl()),
    );
    await registering.catch(() => undefined);
  };

  const applyMe = async (me: Me) => {
    const url = await serverUrl();
    if (url) await vault.applyServerStatus(url, me.user, me.backupCodes);
  };

  /** `who`: whom the page says is signing in; without a name, only a server's single set answers. */
  async function status(origin: string, who: SigningIn | undefined): Promise<StatusReply> {
    let current = await vault.setFor(origin, who);
    if (current.state !== 'empty' && current.state !== 'other_user' && current.awaitingSync) {
      // A code went to a page since the last sync: the server says whether it was spent, when a
      // session lets us ask; without one, the fill's local mark already moves the offer on.
      const me = await fetchMe();
      if (me) {
        await applyMe(me);
        current = await vault.setFor(origin, who);
      }
    }
    if (current.state === 'empty') return { state: 'off' };
    if (current.state === 'other_user') return { state: 'other_user', owner: current.owner };
    if (current.next === null) return { state: 'none_left' };
    return { state: current.state === 'unlocked' ? 'ready' : 'locked', next: current.next };
  }

  async function fill(origin: string, who: SigningIn | undefined): Promise<FillReply> {
    // Another user's code would fail on this page and count toward that user's lockout.
    const taken = await vault.takeNext(origin, who);
    if (taken.ok) return { ok: true, number: taken.number, code: taken.code };
    if (taken.reason === 'other_user') return { ok: false, reason: 'other_user', owner: taken.owner };
    if (taken.reason === 'locked') await offerUnlock();
    return {
      ok: false,
      reason: taken.reason === 'locked' || taken.reason === 'none_left' ? taken.reason : 'off',
    };
  }

  async function answer(message: ContentRequest, sender: Runtime.MessageSender) {
    const url = await serverUrl();
    const origin = originOf(url ?? '');
    if (!isTrustedContentSender(sender, browser.runtime.id, url) || !origin) return undefined;
    const who = signingInOf(message);
    return message.type === AUTOFILL_FILL ? fill(origin, who) : status(origin, who);
  }

  browser.runtime.onMessage.addListener((message: unknown, sender: Runtime.MessageSender) => {
    // Not ours: leave it to the other listeners (returning undefined claims no reply).
    if (!isContentRequest(message)) return undefined;
    return answer(message, sender);
  });

  const fillActive = async (tab?: Parameters<typeof fillInActiveTab>[1]) =>
    fillInActiveTab(await serverUrl(), tab);

  browser.commands.onCommand.addListener((command, tab) => {
    if (command === FILL_COMMAND) void fillActive(tab);
  });

  browser.alarms.onAlarm.addListener((alarm) => {
    if (alarm.name === VAULT_IDLE_ALARM) void vault.lockIfIdle();
  });

  // A first run or a change of server: the content script follows the address, not only the permission.
  browser.storage.local.onChanged.addListener((changes) => {
    if (SERVER_URL_KEY in changes) void refreshRegistration();
  });
  browser.permissions.onAdded.addListener(() => void refreshRegistration());
  browser.permissions.onRemoved.addListener(() => void refreshRegistration());
  browser.runtime.onStartup.addListener(() => void refreshRegistration());
  browser.runtime.onInstalled.addListener(() => void refreshRegistration());
  void refreshRegistration();

  return { refreshRegistration, fillInActiveTab: () => fillActive(), applyMe };
}
