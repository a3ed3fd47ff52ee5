import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { installAutofill } from '../../extension/src/autofill/background';
import { AUTOFILL_FILL, AUTOFILL_STATUS } from '../../extension/src/autofill/messages';
import { registerClipboardClearing } from '../../extension/src/background/clipboard-clearing';
import { registerCodeUseWatch } from '../../extension/src/background/code-use-watch';
import { registerPrintHandoff } from '../../extension/src/background/print-handoff';
import { sha256Hex } from '../../extension/src/digest';
import { browserVault } from '../../extension/src/vault';
import { EXTENSION_ORIGIN, fake, resetFakeBrowser } from './fake-browser';
import { errorReply, fakeServer, SERVER } from './fake-server';
import { ALICE, codeUsedEvent, configuredBrowser, me } from './fixtures';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

const POPUP = { id: 'sparekeytestid', url: `${EXTENSION_ORIGIN}/popup.html` };
/** A content script: same extension id, but it runs in a web page. */
const CONTENT_SCRIPT = { id: 'sparekeytestid', url: 'https://sparekey.example/login', tab: { id: 3 } };

/** What the listeners answered, as the sender would receive it (the first non-undefined). */
async function send(message: unknown, sender: object): Promise<unknown> {
  const answers = fake.runtime.onMessage.emit(message, sender).filter((answer) => answer !== undefined);
  return answers.length ? await answers[0] : undefined;
}

async function fireAlarm(name: string) {
  await Promise.all(fake.alarms.onAlarm.emit({ name }));
}

beforeEach(() => resetFakeBrowser());
afterEach(() => vi.unstubAllGlobals());

describe('clipboard clearing', () => {
  test('keeps only the digest, in session storage, and sets an alarm 30 s ahead', async () => {
    registerClipboardClearing();
    const digest = await sha256Hex('7K3QX-M2D9P');
    const before = Date.now();
    expect(await send({ type: 'clipboard:clear-later', digest }, POPUP)).toBe(true);
    expect(fake.storage.session.data.get('clipboardDigest')).toBe(digest);
    const when = fake.alarms.created.get('sparekey-clear-clipboard')?.when ?? 0;
    expect(when - before).toBeGreaterThanOrEqual(30_000);
    expect(when - Date.now()).toBeLessThanOrEqual(30_000);
  });

  test('ignores content scripts and anything that is not a digest', async () => {
    registerClipboardClearing();
    const digest = await sha256Hex('x');
    expect(await send({ type: 'clipboard:clear-later', digest }, CONTENT_SCRIPT)).toBeUndefined();
    expect(await send({ type: 'clipboard:clear-later', digest: '7K3QX-M2D9P' }, POPUP)).toBeUndefined();
    expect(fake.storage.session.data.size).toBe(0);
    expect(fake.alarms.create).not.toHaveBeenCalled();
  });

  test('on the alarm, an offscreen document compares and clears, then closes', async () => {
    registerClipboardClearing();
    const digest = await sha256Hex('codes');
    await send({ type: 'clipboard:clear-later', digest }, POPUP);
    fake.runtime.sendMessage.mockResolvedValueOnce(true);
    await fireAlarm('sparekey-clear-clipboard');
    expect(fake.offscreen.createDocument).toHaveBeenCalledWith(
      expect.objectContaining({ url: 'offscreen.html', reasons: ['CLIPBOARD'] }),
    );
    expect(fake.runtime.sendMessage).toHaveBeenCalledWith({
      target: 'offscreen',
      type: 'clipboard:clear-if-holds',
      digest,
    });
    expect(fake.offscreen.closeDocument).toHaveBeenCalled();
    expect(fake.storage.session.data.has('clipboardDigest')).toBe(false);
  });

  test('a leftover offscreen document is reused rather than failing', async () => {
    registerClipboardClearing();
    await send({ type: 'clipboard:clear-later', digest: await sha256Hex('codes') }, POPUP);
    fake.offscreen.createDocument.mockRejectedValueOnce(
      new Error('Only a single offscreen document may be created.'),
    );
    await fireAlarm('sparekey-clear-clipboard');
    expect(fake.runtime.sendMessage).toHaveBeenCalledTimes(1);
    expect(fake.offscreen.closeDocument).toHaveBeenCalled();
  });

  test('an alarm with nothing pending touches nothing', async () => {
    registerClipboardClearing();
    await fireAlarm('sparekey-clear-clipboard');
    expect(fake.offscreen.createDocument).not.toHaveBeenCalled();
  });
});

describe('print hand-off', () => {
  const sheet = {
    serverUrl: 'https://s',
    username: 'alice',
    generatedAt: 'now',
    codes: [{ number: 1, code: 'AAAAA-BBBBB' }],
  };

  test('opens the print page and gives it the set once', async () => {
    registerPrintHandoff();
    await send({ type: 'print:open', sheet }, POPUP);
    expect(fake.tabs.create).toHaveBeenCalledWith({ url: `${EXTENSION_ORIGIN}/print.html` });
    const printPage = { id: 'sparekeytestid', url: `${EXTENSION_ORIGIN}/print.html` };
    expect(await send({ type: 'print:take' }, printPage)).toEqual(sheet);
    expect(await send({ type: 'print:take' }, printPage)).toBeNull();
  });

  test('a content script cannot take the set', async () => {
    registerPrintHandoff();
    await send({ type: 'print:open', sheet }, POPUP);
    expect(await send({ type: 'print:take' }, CONTENT_SCRIPT)).toBeUndefined();
    expect(await send({ type: 'print:take' }, POPUP)).toEqual(sheet);
  });
});

describe('status polling', () => {
  test('schedules a periodic alarm once', async () => {
    registerCodeUseWatch();
    await vi.waitFor(() =>
      expect(fake.alarms.created.get('sparekey-poll')).toMatchObject({ periodInMinutes: 1 }),
    );
  });

  test('updates the badge, and notifies a backup-code use that is new since the last look', async () => {
    await configuredBrowser({ token: 't' });
    const server = fakeServer({
      'GET /api/me': { body: me({ remaining: 3, warn: true }) },
      'GET /api/me/events': { body: { events: [] } },
    });
    registerCodeUseWatch();
    await fireAlarm('sparekey-poll');
    expect(fake.action.setBadgeText).toHaveBeenLastCalledWith({ text: '3' });
    // The first look only sets the starting point.
    expect(fake.notifications.create).not.toHaveBeenCalled();
    const since = fake.storage.local.data.get('codeUseNotifiedAt') as string;
    expect(since).toBeTruthy();

    const at = new Date(Date.parse(since) + 1000).toISOString();
    server.on('GET /api/me/events', { body: { events: [codeUsedEvent(at)] } });
    await fireAlarm('sparekey-poll');
    expect(fake.notifications.create).toHaveBeenCalledTimes(1);
    const [, options] = fake.notifications.create.mock.calls[0] as [string, Record<string, string>];
    expect(options.title).toBe('A backup code was used to sign in');
    // The short line: never the raw user-agent string.
    expect(options.message).toMatch(/^No\. 3 · .+ · Firefox on Linux · 203\.0\.113\.7$/);
    expect(options.message).not.toContain('Mozilla');

    await fireAlarm('sparekey-poll');
    expect(fake.notifications.create).toHaveBeenCalledTimes(1);
  });

  test('a code this browser filled is not announced; one used elsewhere still is', async () => {
    await configuredBrowser({ token: 't' });
    const kept = await browserVault().keep(
      [1, 2, 3].map((number) => ({
        number,
        code: ['7K3QX-M2D9P', 'A1B2C-D3E4F', 'GHJKM-NPQRS'][number - 1] as string,
      })),
      'a long passphrase',
      { server: SERVER, username: 'alice', userId: ALICE.id },
    );
    expect(kept.ok).toBe(true);
    expect(await browserVault().takeNext(SERVER, { username: 'alice' })).toMatchObject({ number: 1 });
    const since = new Date(Date.now() - 60_000).toISOString();
    await fake.storage.local.set({ codeUseNotifiedAt: since });
    const ownUse = codeUsedEvent(new Date(Date.now() + 1000).toISOString(), {
      details: { number: 1, remaining: 2 },
    });
    const server = fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [ownUse] } },
    });
    registerCodeUseWatch();
    await fireAlarm('sparekey-poll');
    expect(fake.notifications.create).not.toHaveBeenCalled();
    // Seen: the mark moves past it all the same.
    expect(fake.storage.local.data.get('codeUseNotifiedAt')).toBe(ownUse.at);

    const foreign = codeUsedEvent(new Date(Date.now() + 2000).toISOString(), { id: 'foreign' });
    server.on('GET /api/me/events', { body: { events: [foreign, ownUse] } });
    await fireAlarm('sparekey-poll');
    expect(fake.notifications.create).toHaveBeenCalledTimes(1);
    const [, options] = fake.notifications.create.mock.calls[0] as [string, Record<string, string>];
    expect(options.message).toMatch(/^No\. 3 · /);
    expect(options.message).not.toMatch(/more/);
  });

  test('polls tell the server they are the background, so an idle session still ends', async () => {
    await configuredBrowser({ token: 't' });
    const server = fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [] } },
    });
    registerCodeUseWatch();
    await fireAlarm('sparekey-poll');
    expect(server.calls.map((call) => [call.path, call.headers['X-SpareKey-Background']])).toEqual([
      ['/api/me', '1'],
      ['/api/me/events', '1'],
    ]);
  });

  test('an expired session forgets the token and clears the badge', async () => {
    await configuredBrowser({ token: 'stale' });
    fakeServer({
      'GET /api/me': errorReply(401, 'unauthorized', 'Sign in.'),
      'GET /api/me/events': { body: { events: [] } },
    });
    registerCodeUseWatch();
    await fireAlarm('sparekey-poll');
    await vi.waitFor(() => expect(fake.storage.session.data.has('sessionToken')).toBe(false));
    expect(fake.action.setBadgeText).toHaveBeenLastCalledWith({ text: '' });
  });

  test('an unreachable server changes nothing', async () => {
    await configuredBrowser({ token: 't' });
    fakeServer({}).setOffline(true);
    registerCodeUseWatch();
    await fireAlarm('sparekey-poll');
    expect(fake.storage.session.data.get('sessionToken')).toBe('t');
    expect(fake.notifications.create).not.toHaveBeenCalled();
  });
});

describe('autofill in the background', () => {
  const GENERATED_AT = '2026-11-27T10:15:00.000Z';
  const KEPT = ['7K3QX-M2D9P', 'A1B2C-D3E4F', 'GHJKM-NPQRS', 'TVWXY-Z0123'].map((code, i) => ({
    number: i + 1,
    code,
  }));
  const PAGE = `${SERVER}/login/mfa?method=backup_code`;
  /** Our content script in the top frame of a tab on the configured server. */
  /** The MFA step only, on the server's exact port (the default one written out). */
  const STEP_MATCHES = ['https://sparekey.example:443/login/mfa', 'https://sparekey.example:443/login/mfa?*'];
  const SIGN_IN_PAGE = { id: 'sparekeytestid', frameId: 0, url: PAGE, tab: { id: 3, url: PAGE } };
  const keptStatus = (used: number[]) =>
    me({ total: 4, remaining: 4 - used.length, used, generatedAt: GENERATED_AT });

  async function keepFour() {
    await configuredBrowser({ token: 't' });
    const kept = await browserVault().keep(KEPT, 'a long passphrase', {
      server: SERVER,
      username: 'alice',
      generatedAt: GENERATED_AT,
    });
    expect(kept.ok).toBe(true);
  }

  test('the background entry wires it: every poll marks spent the kept codes the server reports used', async () => {
    await keepFour();
    fakeServer({
      'GET /api/me': { body: keptStatus([1, 2]) },
      'GET /api/me/events': { body: { events: [] } },
    });
    vi.resetModules();
    await import('../../extension/src/background/index');
    await fireAlarm('sparekey-poll');
    await vi.waitFor(async () =>
      expect(await browserVault().setFor(SERVER, { username: 'alice' })).toMatchObject({
        used: [1, 2],
        remaining: 2,
        next: 3,
      }),
    );
    // And the content script is registered for the granted server.
    await vi.waitFor(() =>
      expect(fake.scripting.registered.map((script) => script.matches)).toEqual([STEP_MATCHES]),
    );
  });

  test('the sync after a handed-out code is a background request too, and then offers the next number', async () => {
    await keepFour();
    const server = fakeServer({ 'GET /api/me': { body: keptStatus([1]) } });
    installAutofill();
    expect(await send({ type: AUTOFILL_FILL }, SIGN_IN_PAGE)).toEqual({
      ok: true,
      number: 1,
      code: KEPT[0]?.code,
    });
    expect(server.calls).toEqual([]);

    expect(await send({ type: AUTOFILL_STATUS }, SIGN_IN_PAGE)).toEqual({ state: 'ready', next: 2 });
    expect(server.callsTo('GET', '/api/me').map((call) => call.headers['X-SpareKey-Background'])).toEqual([
      '1',
    ]);
    expect(await browserVault().setFor(SERVER, { username: 'alice' })).toMatchObject({
      used: [1],
      awaitingSync: false,
    });
  });

  test('saving the server address at first run registers the content script for it', async () => {
    fake.permissions.granted.add('https://sparekey.example/*');
    installAutofill();
    await vi.waitFor(() => expect(fake.scripting.getRegisteredContentScripts).toHaveBeenCalled());
    expect(fake.scripting.registered).toEqual([]);
    await fake.storage.local.set({ serverUrl: SERVER });
    await vi.waitFor(() =>
      expect(fake.scripting.registered).toMatchObject([
        { id: 'sparekey-autofill', matches: STEP_MATCHES, js: ['content.js'] },
      ]),
    );
  });
});
