// @vitest-environment happy-dom
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { describe, expect, test, vi } from 'vitest';
import { AUTOFILL_TRIGGER } from '../../extension/src/autofill/messages';
import { Popup } from '../../extension/src/popup/Popup';
import { browserVault } from '../../extension/src/vault';
import type { Me } from '../../shared/api';
import { fake } from './fake-browser';
import { errorReply, fakeServer, SERVER } from './fake-server';
import { ALICE, configuredBrowser, me } from './fixtures';
import { useFreshExtension } from './setup';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

useFreshExtension();

const PASSPHRASE = 'a long passphrase';
const GENERATED_AT = '2026-11-27T10:15:00.000Z';
const CODES = ['7K3QX-M2D9P', 'A1B2C-D3E4F', 'GHJKM-NPQRS', 'TVWXY-Z0123'].map((code, i) => ({
  number: i + 1,
  code,
}));
const SIGN_IN_TAB = { id: 5, url: `${SERVER}/login/mfa?method=backup_code` };

/** The server's view of a set of 4 generated at GENERATED_AT, with `used` spent. */
function fourCodes(used: number[] = [], overrides: Partial<Me['backupCodes']> = {}): Me {
  return me({ total: 4, remaining: 4 - used.length, used, generatedAt: GENERATED_AT, ...overrides });
}

async function keptInBrowser({
  username = 'alice',
  userId = username === 'alice' ? ALICE.id : `id-${username}`,
  locked = false,
  codes = CODES,
  passphrase = PASSPHRASE,
}: {
  username?: string;
  userId?: string;
  locked?: boolean;
  codes?: typeof CODES;
  passphrase?: string;
} = {}) {
  const kept = await browserVault().keep(codes, passphrase, {
    server: SERVER,
    username,
    userId,
    generatedAt: GENERATED_AT,
  });
  expect(kept.ok).toBe(true);
  if (locked) await browserVault().lock();
}

async function openAccount(status: Me = fourCodes()) {
  await configuredBrowser({ token: 't' });
  const server = fakeServer({
    'GET /api/me': { body: status },
    'GET /api/me/events': { body: { events: [] } },
    'POST /api/me/backup-codes': { status: 201, body: { codes: CODES, generatedAt: GENERATED_AT } },
  });
  render(<Popup />);
  await screen.findByRole('heading', { name: 'Autofill' });
  return server;
}

const keptRecords = () => (fake.storage.local.data.get('sparekey.vaults') ?? []) as Record<string, unknown>[];
const keptRecord = (username = 'alice') => keptRecords().find((record) => record.username === username);
/** Whether any kept set is unlocked: its key in storage.session. */
const unlockedKeys = () =>
  Object.keys((fake.storage.session.data.get('sparekey.vaultKeys') ?? {}) as Record<string, unknown>).length;
const input = (label: string) => screen.getByLabelText(label) as HTMLInputElement;
const type = (label: string, value: string) => fireEvent.input(input(label), { target: { value } });

describe('keeping a new set for autofill', () => {
  async function showNewSet() {
    await configuredBrowser({ token: 't' });
    const server = fakeServer({
      'GET /api/me': { body: me({ total: 0, remaining: 0, used: [], generatedAt: null }) },
      'GET /api/me/events': { body: { events: [] } },
      'POST /api/me/backup-codes': { status: 201, body: { codes: CODES, generatedAt: GENERATED_AT } },
    });
    render(<Popup />);
    fireEvent.click(await screen.findByRole('button', { name: 'Generate backup codes' }));
    fireEvent.input(await screen.findByLabelText('Your password, to confirm'), {
      target: { value: 'correct horse' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Generate' }));
    await screen.findByRole('list', { name: 'Backup codes' });
    server.on('GET /api/me', { body: fourCodes() });
    return server;
  }

  test('the checkbox asks for a passphrase twice; the set is sealed and the account shows it kept', async () => {
    await showNewSet();
    expect(screen.queryByLabelText('Passphrase')).toBeNull();
    fireEvent.click(screen.getByRole('checkbox', { name: 'Keep these codes in this browser for autofill' }));
    type('Passphrase', PASSPHRASE);
    type('Repeat the passphrase', PASSPHRASE);
    fireEvent.click(screen.getByRole('button', { name: 'I have stored these codes' }));

    expect(await screen.findByText('4 of 4 kept codes unused')).toBeTruthy();
    expect(screen.getByText(/^Unlocked\. They lock after 15 min without use/)).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Fill backup code #1' })).toBeTruthy();
    expect(screen.queryByRole('list', { name: 'Backup codes' })).toBeNull();

    const stored = JSON.stringify([...fake.storage.local.data.values()]);
    for (const { code } of CODES) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace('-', ''));
    }
    expect(stored).not.toContain(PASSPHRASE);
    expect(keptRecord()).toMatchObject({ server: SERVER, username: 'alice', generatedAt: GENERATED_AT });
  });

  test('a short passphrase is refused at its field, and the codes stay on screen', async () => {
    await showNewSet();
    fireEvent.click(screen.getByRole('checkbox', { name: 'Keep these codes in this browser for autofill' }));
    type('Passphrase', 'short');
    type('Repeat the passphrase', 'short');
    fireEvent.click(screen.getByRole('button', { name: 'I have stored these codes' }));

    expect(await screen.findByText('Use at least 8 characters.')).toBeTruthy();
    expect(input('Passphrase').getAttribute('aria-invalid')).toBe('true');
    expect(input('Passphrase').getAttribute('aria-describedby')).toContain(
      screen.getByText('Use at least 8 characters.').id,
    );
    await waitFor(() => expect(document.activeElement).toBe(input('Passphrase')));
    expect(screen.getByRole('list', { name: 'Backup codes' })).toBeTruthy();
    expect(keptRecord()).toBeUndefined();
  });

  test('two different passphrases are refused at the second field', async () => {
    await showNewSet();
    fireEvent.click(screen.getByRole('checkbox', { name: 'Keep these codes in this browser for autofill' }));
    type('Passphrase', PASSPHRASE);
    type('Repeat the passphrase', `${PASSPHRASE}!`);
    fireEvent.click(screen.getByRole('button', { name: 'I have stored these codes' }));

    expect(await screen.findByText('The two passphrases are not the same.')).toBeTruthy();
    expect(input('Repeat the passphrase').getAttribute('aria-invalid')).toBe('true');
    expect(keptRecord()).toBeUndefined();
  });

  test('without the checkbox nothing is kept', async () => {
    await showNewSet();
    fireEvent.click(screen.getByRole('button', { name: 'I have stored these codes' }));
    expect(
      await screen.findByText(/^No codes are kept in this browser\. When you generate a new set/),
    ).toBeTruthy();
    expect(keptRecord()).toBeUndefined();
  });

  test('a new kept set replaces the old one', async () => {
    await keptInBrowser({ username: 'alice' });
    const before = keptRecord();
    await showNewSet();
    fireEvent.click(screen.getByRole('checkbox', { name: 'Keep these codes in this browser for autofill' }));
    type('Passphrase', 'another passphrase');
    type('Repeat the passphrase', 'another passphrase');
    fireEvent.click(screen.getByRole('button', { name: 'I have stored these codes' }));
    await screen.findByText('4 of 4 kept codes unused');
    const salt = (record?: Record<string, unknown>) => (record?.kdf as { salt?: string } | undefined)?.salt;
    expect(salt(keptRecord())).not.toBe(salt(before));
    expect(salt(before)).toBeTruthy();
  });
});

describe('kept codes in the account view', () => {
  test('says when nothing is kept', async () => {
    await openAccount();
    expect(screen.getByText(/^No codes are kept in this browser/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Fill backup code/ })).toBeNull();
  });

  test('locked: a wrong passphrase is said at the field and changes nothing; the right one unlocks', async () => {
    await keptInBrowser({ locked: true });
    await openAccount();
    expect(screen.getByText('Locked. Enter the passphrase to fill codes.')).toBeTruthy();
    expect(screen.getByText('4 of 4 kept codes unused')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Fill backup code/ })).toBeNull();
    const before = JSON.stringify(keptRecord());

    type('Passphrase', 'not the passphrase');
    fireEvent.click(screen.getByRole('button', { name: 'Unlock' }));
    expect(await screen.findByText('Wrong passphrase. Nothing was changed.')).toBeTruthy();
    expect(input('Passphrase').getAttribute('aria-invalid')).toBe('true');
    expect(input('Passphrase').value).toBe('');
    expect(JSON.stringify(keptRecord())).toBe(before);
    expect(unlockedKeys()).toBe(0);

    type('Passphrase', PASSPHRASE);
    expect(screen.queryByText('Wrong passphrase. Nothing was changed.')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Unlock' }));
    const fill = await screen.findByRole('button', { name: 'Fill backup code #1' });
    await waitFor(() => expect(document.activeElement).toBe(fill));
    expect(unlockedKeys()).toBe(1);
  });

  test('every /api/me the popup fetches marks spent what the server used', async () => {
    await keptInBrowser();
    await openAccount(fourCodes([1, 2]));
    expect(await screen.findByText('2 of 4 kept codes unused')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Fill backup code #3' })).toBeTruthy();
    expect(keptRecord()).toMatchObject({ spent: [1, 2] });
  });

  test('Fill asks the sign-in tab’s content script, and says which number went in', async () => {
    await keptInBrowser();
    await openAccount();
    fake.tabs.active = SIGN_IN_TAB;
    fake.tabs.sendMessage.mockResolvedValueOnce({ filled: true, number: 1 });
    fireEvent.click(screen.getByRole('button', { name: 'Fill backup code #1' }));
    expect(await screen.findByText('Filled backup code #1')).toBeTruthy();
    expect(fake.tabs.sendMessage).toHaveBeenCalledWith(5, { type: AUTOFILL_TRIGGER }, { frameId: 0 });
    expect(screen.getByText('Keyboard shortcut on the sign-in page: Alt+Shift+B')).toBeTruthy();
  });

  test.each([
    [
      'another site in the tab',
      { id: 6, url: 'https://elsewhere.example/login' },
      undefined,
      'Open the sign-in page of sparekey.example in the current tab, then try again.',
    ],
    [
      'a page without the field',
      SIGN_IN_TAB,
      { filled: false, reason: 'no_field' },
      'This page has no backup-code field. Choose “Use a backup code” on it first.',
    ],
    [
      'a tab opened before the permission (no content script)',
      SIGN_IN_TAB,
      undefined,
      'Reload the sign-in page, then try again.',
    ],
    [
      'a field that would not take the code',
      SIGN_IN_TAB,
      { filled: false, reason: 'rejected' },
      'This field did not take the code: paste it instead',
    ],
    [
      'another user signing in on the page',
      SIGN_IN_TAB,
      { filled: false, reason: 'other_user', owner: 'alice', user: 'bob' },
      'Kept codes belong to alice, not bob',
    ],
  ])('Fill on %s says what to do', async (_case, tab, reply, text) => {
    await keptInBrowser();
    await openAccount();
    fake.tabs.active = tab;
    fake.tabs.sendMessage.mockResolvedValueOnce(reply);
    fireEvent.click(screen.getByRole('button', { name: 'Fill backup code #1' }));
    expect(await screen.findByText(text)).toBeTruthy();
    if (tab !== SIGN_IN_TAB) expect(fake.tabs.sendMessage).not.toHaveBeenCalled();
  });

  test('Lock now drops the key from memory and asks for the passphrase again', async () => {
    await keptInBrowser();
    await openAccount();
    expect(unlockedKeys()).toBe(1);
    fireEvent.click(screen.getByRole('button', { name: 'Lock now' }));
    expect(await screen.findByText('Locked. Enter the passphrase to fill codes.')).toBeTruthy();
    expect(unlockedKeys()).toBe(0);
    expect(screen.getByRole('button', { name: 'Unlock' })).toBeTruthy();
  });

  test('Forget asks first, then removes the kept codes', async () => {
    await keptInBrowser();
    await openAccount();
    fireEvent.click(screen.getByRole('button', { name: 'Forget kept codes' }));
    expect(screen.getByRole('group', { name: /^Forget the kept codes\?/ })).toBeTruthy();
    await waitFor(() => expect(document.activeElement?.textContent).toBe('Cancel'));
    expect(keptRecord()).toBeDefined();
    fireEvent.click(screen.getByRole('button', { name: 'Forget' }));
    expect(await screen.findByText(/^No codes are kept in this browser/)).toBeTruthy();
    expect(screen.getByText('The kept codes were forgotten.')).toBeTruthy();
    expect(keptRecord()).toBeUndefined();
    expect(unlockedKeys()).toBe(0);
  });

  test('when every kept code is spent it says none are left and points to a new set', async () => {
    await keptInBrowser();
    await openAccount(fourCodes([1, 2, 3, 4], { warn: true }));
    expect(await screen.findByText('No kept codes left. Generate a new set and keep it.')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Fill backup code/ })).toBeNull();
    expect(screen.getByRole('button', { name: 'Generate a new set' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Forget kept codes' })).toBeTruthy();
  });

  test('a set the server replaced is dead, and the view says so', async () => {
    await keptInBrowser();
    await openAccount(fourCodes([], { generatedAt: '2026-12-01T08:00:00.000Z' }));
    expect(await screen.findByText(/^Your kept codes were replaced on the server/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Fill backup code/ })).toBeNull();
    expect(keptRecord()).toMatchObject({ stale: true });
  });

  test('bob signed in sees neither alice’s kept codes nor a way to fill or forget them', async () => {
    await keptInBrowser({ username: 'bob' });
    await openAccount();
    expect(await screen.findByText(/^No codes are kept in this browser/)).toBeTruthy();
    expect(screen.queryByText(/bob/)).toBeNull();
    expect(screen.queryByRole('button', { name: /Fill backup code/ })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Forget kept codes' })).toBeNull();
    expect(screen.queryByLabelText('Passphrase')).toBeNull();
  });

  test('a code the server reports used that this browser did not fill is said', async () => {
    await keptInBrowser();
    await openAccount(fourCodes([3]));
    expect(
      await screen.findByText(
        'Used outside this browser: #3. If that was not you, change your password and generate a new set.',
      ),
    ).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Fill backup code #1' })).toBeTruthy();
  });

  test('the idle time: out of range is refused at the field; a whole number is saved', async () => {
    await keptInBrowser();
    await openAccount();
    const label = 'Lock after this many minutes without use';
    expect(input(label).value).toBe('15');
    type(label, '0');
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(await screen.findByText('Enter a whole number from 1 to 1440.')).toBeTruthy();
    expect(input(label).getAttribute('aria-invalid')).toBe('true');
    expect(fake.storage.local.data.has('sparekey.vaultIdleMinutes')).toBe(false);

    type(label, '30');
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(await screen.findByText('Saved: they lock after 30 min without use.')).toBeTruthy();
    expect(fake.storage.local.data.get('sparekey.vaultIdleMinutes')).toBe(30);
    expect(await screen.findByText(/^Unlocked\. They lock after 30 min without use/)).toBeTruthy();
    // The running lock moves with it.
    const when = fake.alarms.created.get('sparekey-vault-idle')?.when ?? 0;
    expect(when - Date.now()).toBeGreaterThan(29 * 60_000);
  });
});

describe('kept codes while signed out', () => {
  const SIGNED_IN = {
    token: 'session-1',
    user: { id: ALICE.id, username: 'alice', role: 'user' },
    backupCodes: { remaining: 3 },
  };

  /** The popup with no session: the server answers only the sign-in calls it is given. */
  async function openSignedOut(routes: Parameters<typeof fakeServer>[0] = {}) {
    await configuredBrowser();
    const server = fakeServer(routes);
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    return server;
  }

  test('the card comes before the sign-in form, and the passphrase alone unlocks it: no request', async () => {
    await keptInBrowser({ locked: true });
    const server = await openSignedOut();
    expect(await screen.findByText('Kept for alice on sparekey.example.')).toBeTruthy();
    const card = screen.getByRole('region', { name: 'Autofill' });
    const signIn = screen.getByRole('heading', { name: 'Sign in' });
    expect(card.compareDocumentPosition(signIn) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(screen.getByText('4 of 4 kept codes unused')).toBeTruthy();

    type('Passphrase', PASSPHRASE);
    fireEvent.click(screen.getByRole('button', { name: 'Unlock' }));
    expect(await screen.findByRole('button', { name: 'Fill backup code #1' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Lock now' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Forget kept codes' })).toBeTruthy();
    expect(server.calls).toEqual([]);

    fake.tabs.active = SIGN_IN_TAB;
    fake.tabs.sendMessage.mockResolvedValueOnce({ filled: true, number: 1 });
    fireEvent.click(screen.getByRole('button', { name: 'Fill backup code #1' }));
    expect(await screen.findByText('Filled backup code #1')).toBeTruthy();
    expect(fake.tabs.sendMessage).toHaveBeenCalledWith(5, { type: AUTOFILL_TRIGGER }, { frameId: 0 });
    expect(server.calls).toEqual([]);
  });

  test('two accounts keeping a set each get a card each, forgotten one at a time', async () => {
    await keptInBrowser({ locked: true });
    await keptInBrowser({ username: 'bob', passphrase: 'bob passphrase', locked: true });
    await openSignedOut();
    expect(await screen.findByText('Kept for alice on sparekey.example.')).toBeTruthy();
    expect(screen.getByText('Kept for bob on sparekey.example.')).toBeTruthy();
    expect(screen.getAllByRole('region', { name: 'Autofill' })).toHaveLength(2);

    fireEvent.click(screen.getAllByRole('button', { name: 'Forget kept codes' })[1] as HTMLElement);
    fireEvent.click(screen.getByRole('button', { name: 'Forget' }));
    expect(await screen.findByText('The kept codes were forgotten.')).toBeTruthy();
    await waitFor(() => expect(screen.queryByText('Kept for bob on sparekey.example.')).toBeNull());
    expect(keptRecords().map((record) => record.username)).toEqual(['alice']);
  });

  test('the popup’s own sign-in fills the backup-code step from the kept set; the fill is this browser’s own use', async () => {
    await keptInBrowser();
    const server = await openSignedOut({
      'POST /api/auth/login': {
        body: { status: 'mfa_required', mfaToken: 'mfa-1', methods: ['totp', 'backup_code'] },
      },
      'POST /api/auth/mfa': { body: SIGNED_IN },
      'GET /api/me': { body: fourCodes([1]) },
      'GET /api/me/events': { body: { events: [] } },
    });
    type('Username', 'alice');
    type('Password', 'correct horse');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await screen.findByLabelText('Authenticator code');
    // Only at the backup-code step.
    expect(screen.queryByRole('button', { name: /Use kept backup code/ })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Use a backup code' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Use kept backup code #1' }));
    await waitFor(() => expect(input('Backup code').value).toBe(CODES[0]?.code));
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByText('3 of 4 kept codes unused')).toBeTruthy();

    expect(server.callsTo('POST', '/api/auth/mfa')[0]?.body).toEqual({
      mfaToken: 'mfa-1',
      method: 'backup_code',
      code: CODES[0]?.code,
    });
    expect(keptRecord()).toMatchObject({ spent: [1], usedElsewhere: [] });
    expect(await browserVault().ownUses()).toMatchObject([
      { username: 'alice', userId: ALICE.id, number: 1 },
    ]);
  });

  test('a kept code the server refuses as already used is marked, and the next one offered', async () => {
    await keptInBrowser();
    const server = await openSignedOut({
      'POST /api/auth/login': {
        body: { status: 'mfa_required', mfaToken: 'mfa-1', methods: ['backup_code'] },
      },
      'POST /api/auth/mfa': [
        errorReply(409, 'code_already_used', 'This backup code was already used.'),
        { body: SIGNED_IN },
      ],
      'GET /api/me': { body: fourCodes([1, 2]) },
      'GET /api/me/events': { body: { events: [] } },
    });
    type('Username', 'alice');
    type('Password', 'correct horse');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Use kept backup code #1' }));
    await waitFor(() => expect(input('Backup code').value).toBe(CODES[0]?.code));
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByText('This backup code was already used.')).toBeTruthy();
    expect(input('Backup code').value).toBe('');
    await waitFor(() => expect(keptRecord()).toMatchObject({ spent: [1], usedElsewhere: [1] }));

    fireEvent.click(await screen.findByRole('button', { name: 'Use kept backup code #2' }));
    await waitFor(() => expect(input('Backup code').value).toBe(CODES[1]?.code));
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByText('2 of 4 kept codes unused')).toBeTruthy();
    expect(
      server.callsTo('POST', '/api/auth/mfa').map((call) => (call.body as { code: string }).code),
    ).toEqual([CODES[0]?.code, CODES[1]?.code]);
  });

  test('locked at the sign-in’s backup-code step, it says to unlock above; a code typed by hand is noted as own', async () => {
    await keptInBrowser({ locked: true });
    await keptInBrowser({ username: 'bob', passphrase: 'bob passphrase' });
    await openSignedOut({
      'POST /api/auth/login': {
        body: { status: 'mfa_required', mfaToken: 'mfa-1', methods: ['backup_code'] },
      },
      'POST /api/auth/mfa': { body: SIGNED_IN },
      'GET /api/me': { body: fourCodes([2]) },
      'GET /api/me/events': { body: { events: [] } },
    });
    type('Username', 'alice');
    type('Password', 'correct horse');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    // bob's set is unlocked, but alice signs in: hers is the only one offered, and it is locked.
    expect(
      await screen.findByText('Your kept backup codes are locked: unlock them above to fill one here.'),
    ).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Use kept backup code/ })).toBeNull();
    type('Backup code', CODES[1]?.code ?? '');
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    await screen.findByText('You signed in with a backup code. Codes left: 3.');
    expect(await browserVault().ownUses()).toMatchObject([
      { username: 'alice', userId: ALICE.id, number: null },
    ]);
    expect(screen.queryByText(/bob/)).toBeNull();
  });
});
