/**
 * Autofill end to end against the real server, the same in every browser (test/support/driver.ts):
 * the user keeps a set of 4 under a passphrase in the popup, then signs in on the server's /login
 * with the codes filled one by one (the inline button in its closed shadow root, clicked with the
 * real mouse, and once the popup's button), until none is left. Once with the popup's session gone
 * (as after a browser restart): the passphrase alone unlocks, and the sign-in spends exactly one code.
 * Another user's sign-in gets nothing of hers; once he keeps his own set, each fills only their own.
 */
import * as OTPAuth from 'otpauth';
import { expect } from 'vitest';
import { type Driver, eventually, type FillButton, type UiPage, waitForText } from '../../support/driver';
import { call } from '../../support/server';
import { CODE, connect, endPopupSession, extensionStorage, keepNewSet, signIn } from './extension';
import { userWithCodes } from './users';

const USER = 'alice';
const USER_PASSWORD = 'correct horse battery';
/** Someone else signing in on the same browser, with backup codes of their own. */
const OTHER = 'bob';
const OTHER_PASSWORD = 'bob has a password too';
const PASSPHRASE = 'kept codes passphrase';
const LOCKED_LABEL = 'Unlock SpareKey from the toolbar, then click again';

/** The admin, through the API: backup codes on with 4 per set, and the user with an authenticator now. */
async function setUpUser(serverUrl: string, adminPassword: string): Promise<string> {
  const admin = await call(serverUrl, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: adminPassword },
  });
  const token = admin.body.token as string;
  const policy = await call(serverUrl, 'PUT', '/api/admin/policy', {
    token,
    body: { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 } },
  });
  expect(policy.status).toBe(200);
  const created = await call(serverUrl, 'POST', '/api/admin/users', {
    token,
    body: { username: USER, password: USER_PASSWORD, role: 'user' },
  });
  expect(created.status).toBe(201);
  const mfa = await call(serverUrl, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
    token,
    body: { mfa: { type: 'totp' } },
  });
  expect(mfa.status).toBe(200);
  return mfa.body.totp.secret as string;
}

const named = (name: string | RegExp) => (found: FillButton | null) =>
  found !== null && (typeof name === 'string' ? found.name === name : name.test(found.name));

async function waitForFillButton(page: UiPage, name: string | RegExp): Promise<FillButton> {
  return (await eventually(() => page.autofillButton(), named(name), {
    what: `fill button "${String(name)}"`,
  })) as FillButton;
}

/** A real (trusted) mouse click on the inline button once it says `name`. */
async function clickFillButton(page: UiPage, name: string | RegExp): Promise<void> {
  const button = await waitForFillButton(page, name);
  await page.mouseClick(button.x, button.y);
}

const BACKUP_CODE_FIELD = 'Backup code';

export async function autofillScenario(driver: Driver): Promise<void> {
  const { server } = driver;
  const secret = await setUpUser(server.url, server.adminPassword);

  /** The server's own sign-in screen, up to its backup-code form. */
  const openBackupCodeStep = async (page: UiPage, username = USER, password = USER_PASSWORD) => {
    await page.goto(`${server.url}/login`);
    await page.fill('Username', username);
    await page.fill('Password', password);
    await page.click('button', 'Sign in');
    await page.waitFor('heading', 'Two-step verification');
    await page.click('link', 'Use a backup code');
    await page.waitFor('heading', 'Use a backup code');
    await waitForText(page, `Signing in as ${username}`);
  };
  const verifyAndSignOut = async (page: UiPage, left: string) => {
    await page.click('button', 'Verify');
    await page.waitFor('heading', 'Your account');
    await waitForText(page, `Signed in as ${USER}`);
    await waitForText(page, left);
    await page.click('button', 'Sign out');
    await page.waitFor('heading', 'Sign in');
  };
  /** The set kept for `username` in extension storage. */
  const vault = async (page: UiPage, username = USER) =>
    ((await extensionStorage(page)).local['sparekey.vaults'] as { username: string }[]).find(
      (set) => set.username === username,
    );
  /** The numbers of `username`'s codes the server counts as used, from the audit log. */
  const usedOnServer = async (username: string) => {
    const admin = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: server.adminPassword },
    });
    const events = await call(server.url, 'GET', '/api/admin/audit?limit=100&type=backup_code_used', {
      token: admin.body.token,
    });
    return (events.body.events as { subject: { username: string }; details: { number: number } }[])
      .filter((event) => event.subject.username === username)
      .map((event) => event.details.number)
      .sort();
  };

  // --- The popup: first run (host permission), sign-in with the authenticator, a new set of 4 kept
  // under a passphrase.
  const popup = await driver.openExtensionPage('popup.html', { width: 380, height: 900 });
  await connect(popup, server.url);
  await signIn(popup, USER, USER_PASSWORD);
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
  await popup.fill('Authenticator code', totp);
  await popup.click('button', 'Verify');
  await waitForText(popup, 'You have no backup codes yet.');
  await waitForText(popup, /^No codes are kept in this browser/);

  const codes = await keepNewSet(popup, 'Generate backup codes', USER_PASSWORD, PASSPHRASE);
  expect(codes).toHaveLength(4);
  for (const code of codes) expect(code).toMatch(CODE);
  await waitForText(popup, '4 of 4 codes left');
  await waitForText(popup, '4 of 4 kept codes unused');
  if (driver.browser === 'chromium') await popup.screenshot('autofill-popup.png', { fullPage: true });

  // --- What the extension wrote to disk: sealed, no code in plain text, with or without its dash.
  const stored = JSON.stringify((await extensionStorage(popup)).local);
  expect(stored).toContain('AES-GCM');
  for (const code of codes) {
    expect(stored).not.toContain(code);
    expect(stored).not.toContain(code.replace('-', ''));
  }
  expect(stored).not.toContain(PASSPHRASE);

  // --- Locked, the button offers #1 but gives nothing until the popup unlocks.
  await popup.click('button', 'Lock now');
  await waitForText(popup, 'Locked. Enter the passphrase to fill codes.');

  const site = await driver.openPage('about:blank', { width: 900, height: 640 });
  await openBackupCodeStep(site);
  await waitForFillButton(site, 'Fill backup code #1');
  // Offered, never filled on load.
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe('');
  if (driver.browser === 'chromium') await site.screenshot('autofill.png');

  await clickFillButton(site, 'Fill backup code #1');
  await waitForFillButton(site, LOCKED_LABEL);
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe('');

  await popup.bringToFront();
  await popup.fill('Passphrase', 'not the passphrase');
  await popup.click('button', 'Unlock');
  await waitForText(popup, 'Wrong passphrase. Nothing was changed.');
  await popup.fill('Passphrase', PASSPHRASE);
  await popup.click('button', 'Unlock');
  await popup.waitFor('button', 'Fill backup code #1');

  // --- Sign-in 1: the inline button, clicked with the real mouse, fills #1; the server takes it.
  // Back on the page, the button may have refreshed (window focus) to the number again: either is fine.
  await site.bringToFront();
  await clickFillButton(site, new RegExp(`^(${LOCKED_LABEL}|Fill backup code #1)$`));
  await waitForFillButton(site, 'Filled backup code #1');
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe(codes[0]);
  await verifyAndSignOut(site, '3 of 4 backup codes left');

  // --- Sign-in 2: the extension synced with the server, so the next offer is #2, not #1.
  await openBackupCodeStep(site);
  await clickFillButton(site, 'Fill backup code #2');
  await waitForFillButton(site, 'Filled backup code #2');
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe(codes[1]);
  expect(await vault(popup)).toMatchObject({ spent: [1] });
  await verifyAndSignOut(site, '2 of 4 backup codes left');

  // --- The popup's session ends (as when the browser restarts: storage.session is emptied, which
  // drops the unlocked key too). Kept codes need no session: the card shows before the sign-in form,
  // the passphrase alone unlocks, and the sign-in spends exactly one code.
  await endPopupSession(popup);
  await popup.reload();
  await popup.waitFor('heading', 'Sign in');
  await waitForText(popup, `Kept for ${USER} on ${new URL(server.url).host}.`);
  await waitForText(popup, 'Locked. Enter the passphrase to fill codes.');

  await openBackupCodeStep(site);
  await clickFillButton(site, 'Fill backup code #3');
  await waitForFillButton(site, LOCKED_LABEL);
  await popup.bringToFront();
  await popup.fill('Passphrase', PASSPHRASE);
  await popup.click('button', 'Unlock');
  await popup.waitFor('button', 'Fill backup code #3');
  expect((await extensionStorage(popup)).session.sessionToken).toBeUndefined();
  await site.bringToFront();
  await clickFillButton(site, new RegExp(`^(${LOCKED_LABEL}|Fill backup code #3)$`));
  await waitForFillButton(site, 'Filled backup code #3');
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe(codes[2]);
  await verifyAndSignOut(site, '1 of 4 backup codes left');
  expect(await usedOnServer(USER)).toEqual([1, 2, 3]);

  // --- Bob signs in on this browser: alice's kept codes are not offered to him, and none is filled.
  // A second user with codes of their own, so their sign-in offers the backup-code form.
  const bobTotp = await userWithCodes(server.url, server.adminPassword, OTHER, OTHER_PASSWORD);
  await openBackupCodeStep(site, OTHER, OTHER_PASSWORD);
  await clickFillButton(site, `Kept codes belong to ${USER}, not ${OTHER}`);
  await new Promise((done) => setTimeout(done, 300));
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe('');
  // Nothing of alice's was handed out: #4 is still hers to fill.
  expect((await vault(popup)) as unknown).not.toMatchObject({ filled: [{ number: 4 }] });

  // --- Bob keeps a set of his own in the same browser. His set-up spent his authenticator's step then,
  // so he gives the next step's code, which the server takes (one step of clock drift) without a wait.
  await popup.bringToFront();
  await signIn(popup, OTHER, OTHER_PASSWORD);
  await popup.fill('Authenticator code', bobTotp.generate({ timestamp: Date.now() + 30_000 }));
  await popup.click('button', 'Verify');
  await waitForText(popup, /^No codes are kept in this browser/);
  // Alice's set is not his to see, fill or forget.
  expect(await popup.count('button', 'Forget kept codes')).toBe(0);
  expect(await popup.count('button', 'Fill backup code #4')).toBe(0);
  const bobCodes = await keepNewSet(popup, 'Generate a new set', OTHER_PASSWORD, 'bob kept passphrase');
  expect(bobCodes).toHaveLength(4);
  await waitForText(popup, '4 of 4 kept codes unused');
  await popup.click('button', 'Sign out');
  await popup.waitFor('heading', 'Sign in');

  // Each sign-in page offers only the set of the user signing in there.
  await site.bringToFront();
  await openBackupCodeStep(site, OTHER, OTHER_PASSWORD);
  await clickFillButton(site, 'Fill backup code #1');
  await waitForFillButton(site, 'Filled backup code #1');
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe(bobCodes[0]);
  await site.click('button', 'Verify');
  await site.waitFor('heading', 'Your account');
  await waitForText(site, `Signed in as ${OTHER}`);
  await site.click('button', 'Sign out');
  await site.waitFor('heading', 'Sign in');
  expect(await usedOnServer(OTHER)).toEqual([1]);

  // --- Sign-in 4 fills from the popup's button instead (signed out still), into the active tab.
  await openBackupCodeStep(site);
  await waitForFillButton(site, 'Fill backup code #4');
  await site.bringToFront();
  await popup.reload();
  await popup.click('button', 'Fill backup code #4');
  await waitForText(popup, 'Filled backup code #4');
  await waitForFillButton(site, 'Filled backup code #4');
  expect(await site.inputValue(BACKUP_CODE_FIELD)).toBe(codes[3]);
  await verifyAndSignOut(site, '0 of 4 backup codes left');

  // --- None left: the server's step offers no backup code, and the popup says none is kept.
  await site.fill('Username', USER);
  await site.fill('Password', USER_PASSWORD);
  await site.click('button', 'Sign in');
  await site.waitFor('heading', 'Two-step verification');
  expect(await site.count('link', 'Use a backup code')).toBe(0);

  await popup.bringToFront();
  await popup.reload();
  await waitForText(popup, 'No kept codes left. Generate a new set and keep it.');
  expect(await popup.count('button', 'Fill backup code #4')).toBe(0);
  expect(await usedOnServer(USER)).toEqual([1, 2, 3, 4]);
  expect(await usedOnServer(OTHER)).toEqual([1]);
  expect(driver.pageErrors).toEqual([]);
}
