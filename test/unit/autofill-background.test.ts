import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Me } from '../../shared/api';
import { generateCode } from '../../shared/codes';
import { MemoryArea } from '../support/memory-area';

type Listener = (...args: never[]) => unknown;

/** The slice of the extension API the background half uses, recorded in memory. */
const fake = vi.hoisted(() => {
  const events = () => {
    const listeners: Listener[] = [];
    return { listeners, addListener: (fn: Listener) => listeners.push(fn) };
  };
  const state = {
    granted: true,
    registered: [] as { id: string; matches?: string[]; js?: string[] }[],
  };
  const browser = {
    runtime: { id: 'sparekey@extension', onMessage: events(), onStartup: events(), onInstalled: events() },
    commands: { onCommand: events() },
    alarms: { onAlarm: events() },
    storage: { local: { onChanged: events() } },
    permissions: {
      contains: async () => state.granted,
      onAdded: events(),
      onRemoved: events(),
    },
    scripting: {
      getRegisteredContentScripts: async ({ ids }: { ids: string[] }) =>
        state.registered.filter((s) => ids.includes(s.id)),
      registerContentScripts: async (scripts: typeof state.registered) => {
        if (scripts.some((s) => state.registered.some((r) => r.id === s.id)))
          throw new Error('Duplicate script ID');
        state.registered.push(...scripts);
      },
      updateContentScripts: async (scripts: typeof state.registered) => {
        state.registered = state.registered.map((r) => scripts.find((s) => s.id === r.id) ?? r);
      },
      unregisterContentScripts: async ({ ids }: { ids: string[] }) => {
        state.registered = state.registered.filter((s) => !ids.includes(s.id));
      },
    },
    tabs: {
      query: async () => [],
      sendMessage: (..._args: unknown[]) => Promise.resolve({ filled: true, number: 1 }),
    },
    action: { openPopup: async () => undefined },
  };
  return { browser, state };
});

vi.mock('webextension-polyfill', () => ({ default: fake.browser }));

const { installAutofill } = await import('../../extension/src/autofill/background');
const { syncContentScript } = await import('../../extension/src/autofill/registration');
const { isTrustedContentSender } = await import('../../extension/src/autofill/sender');
const { AUTOFILL_FILL, AUTOFILL_STATUS, AUTOFILL_TRIGGER, FILL_COMMAND } = await import(
  '../../extension/src/autofill/messages'
);
const { createVault, VAULT_IDLE_ALARM } = await import('../../extension/src/vault/vault');

const SERVER_URL = 'https://sparekey.example:8443/sk';
const ORIGIN = 'https://sparekey.example:8443';
/** The MFA step under the server URL's path. */
const STEP = `${ORIGIN}/sk/login/mfa`;
const PASS = 'correct horse battery';
const ALICE = { server: SERVER_URL, username: 'alice' };
/** What the popup sees of alice's set. */
const alices = () => vault.setFor(SERVER_URL, ALICE);

const goodSender = {
  id: 'sparekey@extension',
  frameId: 0,
  url: `${STEP}?method=backup_code`,
  tab: {
    id: 7,
    url: `${STEP}?method=backup_code`,
    index: 0,
    highlighted: true,
    active: true,
    pinned: false,
    incognito: false,
  },
};

function me(username: string, used: number[]): Me {
  return {
    user: { id: 'u1', username, role: 'user' },
    mustChangePassword: false,
    mfa: { enabled: true, enrolled: true, type: 'totp' },
    backupCodes: {
      allowed: true,
      reason: null,
      total: 4,
      remaining: 4 - used.length,
      used,
      generatedAt: '2025-01-01T00:00:00.000Z',
      warn: false,
    },
  };
}

let clock: number;
let vault: ReturnType<typeof createVault>;
let session: MemoryArea;
let fetchMe: ReturnType<typeof vi.fn<() => Promise<Me | null>>>;
let serverUrl: string | null;
let codes: { number: number; code: string }[];

function listeners(event: { listeners: Listener[] }) {
  return event.listeners as ((...args: unknown[]) => unknown)[];
}

/** Delivers a message as the browser would, to every runtime.onMessage listener; the first reply wins. */
async function deliver(message: unknown, sender: unknown = goodSender): Promise<unknown> {
  for (const listener of listeners(fake.browser.runtime.onMessage)) {
    const reply = listener(message, sender);
    if (reply !== undefined) return await reply;
  }
  return 'no listener answered';
}

async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

beforeEach(async () => {
  for (const event of [
    fake.browser.runtime.onMessage,
    fake.browser.runtime.onStartup,
    fake.browser.runtime.onInstalled,
    fake.browser.commands.onCommand,
    fake.browser.alarms.onAlarm,
    fake.browser.permissions.onAdded,
    fake.browser.permissions.onRemoved,
    fake.browser.storage.local.onChanged,
  ]) {
    event.listeners.length = 0;
  }
  fake.state.granted = true;
  fake.state.registered = [];
  clock = Date.UTC(2025, 0, 2);
  session = new MemoryArea();
  vault = createVault({
    local: new MemoryArea(),
    session,
    alarms: { create: () => undefined, clear: () => undefined },
    now: () => clock,
  });
  serverUrl = SERVER_URL;
  fetchMe = vi.fn(async () => null);
  codes = Array.from({ length: 4 }, (_, i) => {
    const raw = generateCode();
    return { number: i + 1, code: `${raw.slice(0, 5)}-${raw.slice(5)}` };
  });
  vi.restoreAllMocks();
});

function install() {
  const autofill = installAutofill({ vault, serverUrl: async () => serverUrl, fetchMe });
  return autofill;
}

/** The default port is written out: a Chromium pattern without one matches every port. */
const CODES_EXAMPLE_MATCHES = [
  'https://codes.example.org:443/login/mfa',
  'https://codes.example.org:443/login/mfa?*',
];

describe('content script registration', () => {
  it("registers the content script for the configured server's MFA step once its permission is granted", async () => {
    install();
    await settle();
    expect(fake.state.registered).toEqual([
      {
        id: 'sparekey-autofill',
        // The port and the path: not every port of the host, not every page of the origin.
        matches: [
          'https://sparekey.example:8443/sk/login/mfa',
          'https://sparekey.example:8443/sk/login/mfa?*',
        ],
        js: ['content.js'],
        runAt: 'document_idle',
        allFrames: false,
      },
    ]);
  });

  it('leaves the port out for Firefox, whose patterns cannot carry one (the script checks it instead)', async () => {
    expect(await syncContentScript('http://127.0.0.1:8787', 'firefox')).toBe('registered');
    expect(fake.state.registered.map((s) => s.matches)).toEqual([
      ['http://127.0.0.1/login/mfa', 'http://127.0.0.1/login/mfa?*'],
    ]);
    await syncContentScript('http://127.0.0.1:8787', 'chromium');
    expect(fake.state.registered.map((s) => s.matches)).toEqual([
      ['http://127.0.0.1:8787/login/mfa', 'http://127.0.0.1:8787/login/mfa?*'],
    ]);
  });

  it('registers nothing without the permission, and unregisters when it is withdrawn', async () => {
    fake.state.granted = false;
    install();
    await settle();
    expect(fake.state.registered).toEqual([]);

    fake.state.granted = true;
    for (const listener of listeners(fake.browser.permissions.onAdded)) listener({ origins: [] });
    await settle();
    expect(fake.state.registered).toHaveLength(1);

    fake.state.granted = false;
    for (const listener of listeners(fake.browser.permissions.onRemoved)) listener({ origins: [] });
    await settle();
    expect(fake.state.registered).toEqual([]);
  });

  it('follows the server address saved at first run or changed later, by itself', async () => {
    serverUrl = null;
    install();
    await settle();
    expect(fake.state.registered).toEqual([]);

    serverUrl = 'https://codes.example.org';
    for (const listener of listeners(fake.browser.storage.local.onChanged)) {
      listener({ serverUrl: { newValue: serverUrl } });
    }
    await settle();
    expect(fake.state.registered.map((s) => s.matches)).toEqual([CODES_EXAMPLE_MATCHES]);

    // Other keys (the vault record, notice bookkeeping) leave the registration alone.
    serverUrl = 'https://elsewhere.example';
    for (const listener of listeners(fake.browser.storage.local.onChanged)) {
      listener({ 'sparekey.vault': { newValue: {} } });
    }
    await settle();
    expect(fake.state.registered.map((s) => s.matches)).toEqual([CODES_EXAMPLE_MATCHES]);
  });

  it('follows a change of server, and survives several refreshes at once', async () => {
    const autofill = install();
    serverUrl = 'https://codes.example.org';
    await Promise.all([autofill.refreshRegistration(), autofill.refreshRegistration()]);
    expect(fake.state.registered.map((s) => s.matches)).toEqual([CODES_EXAMPLE_MATCHES]);

    serverUrl = null;
    await autofill.refreshRegistration();
    expect(fake.state.registered).toEqual([]);
  });
});

describe('who gets an answer', () => {
  it.each([
    ['another extension', { ...goodSender, id: 'evil@extension' }],
    ['a page on another origin', { ...goodSender, url: 'https://evil.example/login' }],
    ['the same host on another port', { ...goodSender, url: 'https://sparekey.example/sk/login/mfa' }],
    ['another page of the same origin', { ...goodSender, url: `${ORIGIN}/wiki/lure` }],
    ["the step outside the server URL's path", { ...goodSender, url: `${ORIGIN}/login/mfa` }],
    ['a path that only starts like the step', { ...goodSender, url: `${STEP}-help` }],
    [
      'a tab that moved to another page of the origin',
      { ...goodSender, tab: { ...goodSender.tab, url: `${ORIGIN}/wiki/lure` } },
    ],
    ['a frame inside the server page', { ...goodSender, frameId: 3 }],
    ['an extension page (no tab)', { id: 'sparekey@extension', url: 'chrome-extension://x/popup.html' }],
    [
      'a tab that navigated away',
      { ...goodSender, tab: { ...goodSender.tab, url: 'https://evil.example/' } },
    ],
    ['a sandboxed frame (opaque origin)', { ...goodSender, origin: 'null' }],
  ])('%s gets nothing', async (_, sender) => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    expect(await deliver({ type: AUTOFILL_STATUS }, sender)).toBeUndefined();
    expect(await deliver({ type: AUTOFILL_FILL }, sender)).toBeUndefined();
    expect(await alices()).toMatchObject({ next: 1, awaitingSync: false });
  });

  it('answers nothing before a server is configured', async () => {
    serverUrl = null;
    install();
    expect(await deliver({ type: AUTOFILL_STATUS })).toBeUndefined();
  });

  it('leaves messages that are not its own to the other listeners', () => {
    install();
    const [listener] = listeners(fake.browser.runtime.onMessage);
    expect(listener?.({ type: 'clipboard:clear-later', digest: 'x' }, goodSender)).toBeUndefined();
    expect(listener?.('hello', goodSender)).toBeUndefined();
  });

  it('trusts our own content script on the configured server', () => {
    expect(isTrustedContentSender(goodSender, 'sparekey@extension', SERVER_URL)).toBe(true);
    expect(
      isTrustedContentSender({ ...goodSender, origin: ORIGIN } as never, 'sparekey@extension', SERVER_URL),
    ).toBe(true);
    expect(isTrustedContentSender(goodSender, 'sparekey@extension', null)).toBe(false);
  });
});

describe('handing out codes', () => {
  it('tells the number first, then gives one code per fill request, lowest first', async () => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    const status = await deliver({ type: AUTOFILL_STATUS });
    expect(status).toEqual({ state: 'ready', next: 1 });
    expect(JSON.stringify(status)).not.toContain(codes[0]?.code);

    expect(await deliver({ type: AUTOFILL_FILL })).toEqual({ ok: true, number: 1, code: codes[0]?.code });
    expect(await deliver({ type: AUTOFILL_FILL })).toEqual({ ok: true, number: 2, code: codes[1]?.code });
  });

  it('syncs with the server after a code was handed out, and never offers a spent one', async () => {
    install();
    await vault.keep(codes, PASS, {
      server: SERVER_URL,
      username: 'alice',
      generatedAt: '2025-01-01T00:00:00.000Z',
    });
    await deliver({ type: AUTOFILL_STATUS });
    expect(fetchMe).not.toHaveBeenCalled();

    await deliver({ type: AUTOFILL_FILL });
    fetchMe.mockResolvedValue(me('alice', [1, 2]));
    expect(await deliver({ type: AUTOFILL_STATUS })).toEqual({ state: 'ready', next: 3 });
    expect(fetchMe).toHaveBeenCalledTimes(1);
    expect(await deliver({ type: AUTOFILL_FILL })).toMatchObject({ ok: true, number: 3 });

    fetchMe.mockResolvedValue(me('alice', [1, 2, 3, 4]));
    expect(await deliver({ type: AUTOFILL_STATUS })).toEqual({ state: 'none_left' });
    expect(await deliver({ type: AUTOFILL_FILL })).toEqual({ ok: false, reason: 'none_left' });
  });

  it('gives nothing while locked and offers the popup to unlock', async () => {
    const openPopup = vi.spyOn(fake.browser.action, 'openPopup');
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    await vault.lock();
    expect(await deliver({ type: AUTOFILL_STATUS })).toEqual({ state: 'locked', next: 1 });
    expect(await deliver({ type: AUTOFILL_FILL })).toEqual({ ok: false, reason: 'locked' });
    expect(openPopup).toHaveBeenCalledTimes(1);
  });

  it('shows nothing on a server the kept codes do not belong to', async () => {
    install();
    await vault.keep(codes, PASS, { server: 'https://other.example', username: 'alice' });
    expect(await deliver({ type: AUTOFILL_STATUS })).toEqual({ state: 'off' });
    expect(await deliver({ type: AUTOFILL_FILL })).toEqual({ ok: false, reason: 'off' });
  });

  it('refuses a code to a page where someone else signs in, and says whose codes are kept', async () => {
    const openPopup = vi.spyOn(fake.browser.action, 'openPopup');
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    expect(await deliver({ type: AUTOFILL_STATUS, username: 'bob' })).toEqual({
      state: 'other_user',
      owner: 'alice',
    });
    const refused = await deliver({ type: AUTOFILL_FILL, username: 'bob' });
    expect(refused).toEqual({ ok: false, reason: 'other_user', owner: 'alice' });
    for (const { code } of codes) expect(JSON.stringify(refused)).not.toContain(code);
    // Nothing was handed out, so alice's next fill is still #1.
    expect(await alices()).toMatchObject({ next: 1, awaitingSync: false });

    // Locked or not, bob's page never opens the popup to unlock alice's codes.
    await vault.lock();
    expect(await deliver({ type: AUTOFILL_FILL, username: 'bob' })).toEqual({
      ok: false,
      reason: 'other_user',
      owner: 'alice',
    });
    expect(openPopup).not.toHaveBeenCalled();
  });

  it('hands the code when the page names the owner, whatever the case', async () => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'Alice' });
    expect(await deliver({ type: AUTOFILL_STATUS, username: 'aLICE' })).toEqual({ state: 'ready', next: 1 });
    expect(await deliver({ type: AUTOFILL_FILL, username: 'ALICE' })).toEqual({
      ok: true,
      number: 1,
      code: codes[0]?.code,
    });
    expect(await deliver({ type: AUTOFILL_FILL, username: 'alice' })).toEqual({
      ok: true,
      number: 2,
      code: codes[1]?.code,
    });
  });

  it("says the kept codes are another user's before saying they are used up", async () => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    await vault.applyServerStatus(
      SERVER_URL,
      { id: 'u1', username: 'alice' },
      { total: 4, used: [1, 2, 3, 4], generatedAt: null },
    );
    expect(await deliver({ type: AUTOFILL_STATUS, username: 'bob' })).toEqual({
      state: 'other_user',
      owner: 'alice',
    });
    expect(await deliver({ type: AUTOFILL_STATUS, username: 'alice' })).toEqual({ state: 'none_left' });
  });

  it('answers nothing to a username that is not text or is far too long', async () => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    for (const username of [42, null, ['alice'], 'a'.repeat(257)]) {
      expect(await deliver({ type: AUTOFILL_FILL, username })).toBe('no listener answered');
    }
    expect(await alices()).toMatchObject({ next: 1, awaitingSync: false });
  });

  it('signed out, each fill moves the offer on at once: the next number, without asking the server', async () => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    expect(await deliver({ type: AUTOFILL_FILL, username: 'alice' })).toMatchObject({ ok: true, number: 1 });
    // No session: fetchMe has nothing to tell, and the local mark is what counts.
    expect(await deliver({ type: AUTOFILL_STATUS, username: 'alice' })).toEqual({ state: 'ready', next: 2 });
    expect(fetchMe).toHaveBeenCalledTimes(1);
    expect(await deliver({ type: AUTOFILL_FILL, username: 'alice' })).toMatchObject({ ok: true, number: 2 });
  });

  it('with two users keeping a set on the server, the page gets the set of the user it signs in', async () => {
    install();
    const bobs = codes.map((c, i) => ({ ...c, code: `${'BCDFG'.charAt(i)}2345-6789${i}` }));
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice', userId: 'u1' });
    await vault.keep(bobs, 'bob passphrase', { server: SERVER_URL, username: 'bob', userId: 'u2' });
    expect(await deliver({ type: AUTOFILL_FILL, username: 'bob', userId: 'u2' })).toEqual({
      ok: true,
      number: 1,
      code: bobs[0]?.code,
    });
    expect(await deliver({ type: AUTOFILL_STATUS, username: 'alice', userId: 'u1' })).toEqual({
      state: 'ready',
      next: 1,
    });
    expect(await deliver({ type: AUTOFILL_FILL, username: 'alice', userId: 'u1' })).toEqual({
      ok: true,
      number: 1,
      code: codes[0]?.code,
    });
    expect(await deliver({ type: AUTOFILL_FILL, username: 'carol' })).toEqual({
      ok: false,
      reason: 'other_user',
      owner: 'alice, bob',
    });
    // The same name under another id (an account deleted and made again) is not the owner.
    expect(await deliver({ type: AUTOFILL_STATUS, username: 'alice', userId: 'u9' })).toEqual({
      state: 'other_user',
      owner: 'alice, bob',
    });
  });

  it('answers nothing to a user id that is not text or is far too long', async () => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    for (const userId of [42, null, ['u1'], 'u'.repeat(257)]) {
      expect(await deliver({ type: AUTOFILL_FILL, username: 'alice', userId })).toBe('no listener answered');
    }
    expect(await alices()).toMatchObject({ next: 1, awaitingSync: false });
  });

  it('locks the codes when the idle alarm fires', async () => {
    install();
    await vault.keep(codes, PASS, { server: SERVER_URL, username: 'alice' });
    clock += 15 * 60_000;
    for (const listener of listeners(fake.browser.alarms.onAlarm)) listener({ name: VAULT_IDLE_ALARM });
    await settle();
    expect(session.data.size).toBe(0);
    expect(await deliver({ type: AUTOFILL_FILL })).toEqual({ ok: false, reason: 'locked' });
  });
});

describe('the keyboard shortcut', () => {
  it('asks the content script of the active server tab to fill', async () => {
    const sendMessage = vi.spyOn(fake.browser.tabs, 'sendMessage');
    install();
    for (const listener of listeners(fake.browser.commands.onCommand)) listener(FILL_COMMAND, goodSender.tab);
    await settle();
    expect(sendMessage).toHaveBeenCalledWith(7, { type: AUTOFILL_TRIGGER }, { frameId: 0 });
  });

  it('does nothing on another site or for another command', async () => {
    const sendMessage = vi.spyOn(fake.browser.tabs, 'sendMessage');
    install();
    for (const listener of listeners(fake.browser.commands.onCommand)) {
      listener(FILL_COMMAND, { ...goodSender.tab, url: 'https://evil.example/login' });
      listener('something-else', goodSender.tab);
    }
    await settle();
    expect(sendMessage).not.toHaveBeenCalled();
  });

  it('says there is no field on another page of the server, without asking it', async () => {
    const sendMessage = vi.spyOn(fake.browser.tabs, 'sendMessage');
    vi.spyOn(fake.browser.tabs, 'query').mockResolvedValue([
      { ...goodSender.tab, url: `${ORIGIN}/sk/account` },
    ] as never);
    const autofill = install();
    expect(await autofill.fillInActiveTab()).toEqual({ filled: false, reason: 'no_field' });
    expect(sendMessage).not.toHaveBeenCalled();
  });

  it('reports a tab without the content script', async () => {
    vi.spyOn(fake.browser.tabs, 'sendMessage').mockRejectedValue(new Error('Receiving end does not exist.'));
    vi.spyOn(fake.browser.tabs, 'query').mockResolvedValue([goodSender.tab] as never);
    const autofill = install();
    expect(await autofill.fillInActiveTab()).toEqual({ filled: false, reason: 'no_content_script' });
  });
});
