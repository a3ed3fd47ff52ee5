/**
 * The extension end to end against the real server, the same in every browser (test/support/driver.ts):
 * an admin enables backup codes on the options page and sets up a user; the user signs in through
 * the popup, generates a set, copies it (and sees the clipboard cleared by the background), downloads
 * and prints it, spends one code, and the popup, the toolbar badge and the code-use notice then show it.
 */
import * as OTPAuth from 'otpauth';
import { expect } from 'vitest';
import { type Driver, eventually, type UiPage, waitForText } from '../../support/driver';
import { call } from '../../support/server';

export const CODE = /^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/;
const USER = 'alice';
/** The password the admin chooses: temporary, so the user replaces it with USER_PASSWORD at first sign-in. */
const FIRST_PASSWORD = 'the admin chose this';
const USER_PASSWORD = 'correct horse battery';
/** The badge appears at this many codes left: one spend from a full set of 6. */
const WARN_AT = 5;

export async function signIn(page: UiPage, username: string, password: string): Promise<void> {
  await page.fill('Username', username);
  await page.fill('Password', password);
  await page.click('button', 'Sign in');
}

/** First run of an extension page: the server address, then the host permission a click asks for. */
export async function connect(page: UiPage, serverUrl: string): Promise<void> {
  await page.fill('Server address', serverUrl);
  await page.click('button', 'Continue');
}

export const clipboard = (page: UiPage) => page.evaluate(() => navigator.clipboard.readText());

type Area = { get(keys: null): Promise<Record<string, unknown>> };
interface ExtensionApi {
  storage: { local: Area; session: Area };
  action: { getBadgeText(details: object): Promise<string> };
}

/** The extension's storage areas, read from one of its own pages (the browser's own API, no polyfill). */
export const extensionStorage = (page: UiPage) =>
  page.evaluate(async () => {
    const api = ((globalThis as { browser?: unknown }).browser ??
      (globalThis as { chrome?: unknown }).chrome) as { storage: { local: Area; session: Area } };
    return { session: await api.storage.session.get(null), local: await api.storage.local.get(null) };
  });

/**
 * Ends the popup's session as a browser restart does: storage.session is emptied, which drops the
 * session token and the unlocked keys of kept sets too. Run from one of the extension's pages.
 */
export const endPopupSession = (page: UiPage) =>
  page.evaluate(async () => {
    const api = ((globalThis as { browser?: unknown }).browser ??
      (globalThis as { chrome?: unknown }).chrome) as { storage: { session: { clear(): Promise<void> } } };
    await api.storage.session.clear();
  });

/**
 * In the signed-in popup: generates a set (from the button `generateButton` names), keeps it in this
 * browser under `passphrase`, and returns its codes once the kept-codes card offers #1.
 */
export async function keepNewSet(
  popup: UiPage,
  generateButton: string,
  password: string,
  passphrase: string,
): Promise<string[]> {
  await popup.click('button', generateButton);
  await popup.fill('Your password, to confirm', password);
  await popup.click('button', 'Generate');
  const codes = await popup.texts('.code-grid code');
  await popup.check('checkbox', 'Keep these codes in this browser for autofill');
  await popup.fill('Passphrase', passphrase);
  await popup.fill('Repeat the passphrase', passphrase);
  await popup.click('button', 'I have stored these codes');
  await popup.waitFor('button', 'Fill backup code #1');
  return codes;
}

/** The toolbar badge's text, read from one of the extension's pages. */
export const badgeText = (page: UiPage) =>
  page.evaluate(() => {
    const api = ((globalThis as { browser?: unknown }).browser ??
      (globalThis as { chrome?: unknown }).chrome) as ExtensionApi;
    return api.action.getBadgeText({});
  });

export async function adminAndUserScenario(driver: Driver): Promise<void> {
  const { server } = driver;

  // --- The admin, on the options page: first run (host permission), sign-in, Multifactor section.
  const options = await driver.openExtensionPage('options.html', { width: 1100, height: 900 });
  await connect(options, server.url);
  await signIn(options, 'admin', server.adminPassword);
  await waitForText(options, 'Signed in as admin');

  expect(await options.isEnabled('button', 'Save')).toBe(false);
  await options.check('checkbox', 'Backup codes');
  expect(await options.isEnabled('button', 'Save')).toBe(true);
  await options.click('button', 'Configure');
  await options.fill('Number of backup codes', '6');
  await options.fill('Warn when this many codes are left', String(WARN_AT));
  await options.click('button', 'Save');
  await waitForText(options, 'Multifactor settings saved.');
  expect(await options.isEnabled('button', 'Save')).toBe(false);

  const admin = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  expect(admin.body.status).toBe('ok');
  const policy = await call(server.url, 'GET', '/api/admin/policy', { token: admin.body.token });
  expect(policy.body.backupCodes).toMatchObject({ enabled: true, count: 6, warnWhenRemaining: WARN_AT });

  // --- The admin creates the user and sets up an authenticator for them now.
  await options.click('button', 'Add user');
  await options.fill('Username', USER);
  await options.fill('Password', FIRST_PASSWORD);
  await options.click('button', 'Create user');
  await waitForText(options, `${USER} was created.`);

  await options.click('button', `MFA: ${USER}`);
  await options.check('radio', 'Authenticator app, configured now');
  await options.click('button', 'Apply');
  const [secretText = ''] = await options.texts('.secret-text');
  const secret = secretText.replace(/\s+/g, '');
  expect(secret).toMatch(/^[A-Z2-7]+$/);
  await waitForText(options, new RegExp(`^${USER}\\s.*Authenticator app`));
  await options.click('button', 'Done');
  // The docs' pictures come from one browser, Chromium.
  if (driver.browser === 'chromium') await options.screenshot('options.png', { fullPage: true });
  await options.click('button', 'Sign out');
  await options.close();

  // --- The user, in the popup: sign-in with an authenticator code.
  const popup = await driver.openExtensionPage('popup.html', { width: 380, height: 640 });
  await signIn(popup, USER, FIRST_PASSWORD);
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
  await popup.fill('Authenticator code', totp);
  await popup.click('button', 'Verify');
  // The admin chose the password (the create form's box was left ticked): the user replaces it first.
  await popup.fill('Current password', FIRST_PASSWORD);
  await popup.fill('New password', USER_PASSWORD);
  await popup.fill('New password again', USER_PASSWORD);
  await popup.click('button', 'Change password');
  await waitForText(popup, 'You have no backup codes yet.');

  // --- Generate: the confirmation asks for the password; the codes are shown once.
  await popup.click('button', 'Generate backup codes');
  await popup.fill('Your password, to confirm', USER_PASSWORD);
  await popup.click('button', 'Generate');
  await popup.waitFor('list', 'Backup codes');
  const codes = await popup.texts('.code-grid code');
  expect(codes).toHaveLength(6);
  for (const code of codes) expect(code).toMatch(CODE);
  expect(new Set(codes).size).toBe(6);

  // --- Copy: one code per line and nothing else; the background clears it later (checked below).
  await popup.click('button', 'Copy');
  await waitForText(popup, /^Copied\. The clipboard is cleared in/);
  expect(await clipboard(popup)).toBe(codes.join('\n'));

  // --- Download: a .txt named after server, user and date, holding the same codes in order.
  const download = await popup.download(() => popup.click('button', 'Download'));
  const port = new URL(server.url).port;
  expect(download.filename).toMatch(
    new RegExp(`^sparekey-backup-codes-127\\.0\\.0\\.1_${port}-${USER}-\\d{4}-\\d{2}-\\d{2}\\.txt$`),
  );
  expect(download.text.match(/[0-9A-Z]{5}-[0-9A-Z]{5}/g)).toEqual(codes);
  expect(download.text).toContain('Use a backup code');

  // --- Print: the background opens the print page and hands it the set, once.
  const printPage = await driver.nextPage(() => popup.click('button', 'Print'));
  expect(await printPage.evaluate(() => location.href)).toBe(driver.extensionUrl('print.html'));
  await printPage.waitFor('list', 'Backup codes');
  expect(await printPage.texts('.code-grid code')).toEqual(codes);
  await printPage.reload();
  await waitForText(printPage, /These codes are no longer available here/);
  await printPage.close();

  // --- The clipboard, untouched since the copy, is emptied by the background page or worker.
  await eventually(
    () => clipboard(popup),
    (text) => text === '',
    { timeoutMs: driver.clipboardClearMs + 15_000, what: 'clipboard cleared' },
  );

  await popup.click('button', 'I have stored these codes');
  await waitForText(popup, '6 of 6 codes left');
  expect(await popup.count('list', 'Backup codes')).toBe(0);
  expect(await badgeText(popup)).toBe('');

  // --- One of the codes signs the user in through the API.
  const login = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: USER, password: USER_PASSWORD },
  });
  expect(login.body.status).toBe('mfa_required');
  expect(login.body.methods).toContain('backup_code');
  const spent = await call(server.url, 'POST', '/api/auth/mfa', {
    body: { mfaToken: login.body.mfaToken, method: 'backup_code', code: codes[2] },
  });
  expect(spent.status).toBe(200);
  expect(spent.body.backupCodes).toEqual({ remaining: 5 });

  // --- The popup shows what is left, which number is spent, and the notice of the use; the badge
  // shows the codes left now that they are at the warning threshold.
  await popup.reload();
  await waitForText(popup, '5 of 6 codes left');
  await waitForText(popup, 'Used: No. 3');
  await popup.waitFor('heading', 'A backup code was used to sign in');
  expect(await badgeText(popup)).toBe('5');
  if (driver.browser === 'chromium') await popup.screenshot('popup.png', { fullPage: true });

  // --- The token lives in session storage only; sign out forgets it, the background clears the
  // badge, and the server refuses the token after.
  const before = await extensionStorage(popup);
  const token = before.session?.sessionToken;
  expect(typeof token).toBe('string');
  expect(JSON.stringify(before.local)).not.toContain(token as string);
  expect((await call(server.url, 'GET', '/api/me', { token: token as string })).status).toBe(200);
  await popup.click('button', 'Sign out');
  await popup.waitFor('heading', 'Sign in');
  expect((await extensionStorage(popup)).session?.sessionToken).toBeUndefined();
  await eventually(
    () => badgeText(popup),
    (text) => text === '',
    { what: 'badge cleared after sign-out' },
  );
  expect((await call(server.url, 'GET', '/api/me', { token: token as string })).status).toBe(401);
  await popup.close();
  expect(driver.pageErrors).toEqual([]);
}
