/**
 * The extension end to end, in Debian's Chromium against the real server: an admin enables backup
 * codes on the options page and sets up a user; the user signs in through the popup, generates a
 * set, copies it (and sees the clipboard cleared), downloads it, spends one code, and the popup then
 * shows what is left. Uses the test build (dist/chromium-e2e: loopback host granted in the manifest,
 * clipboard cleared after 2 s instead of 30 s).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { extensionRun, SCREENSHOTS_DIR } from '../support/chromium';
import { call } from '../support/server';

const BUILD_NAME = 'chromium-e2e';
const CODE = /^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/;

const USER = 'alice';
const USER_PASSWORD = 'correct horse battery';

// No grantPermissions: Chromium refuses it for extension origins, and the manifest's clipboardRead
// and clipboardWrite already let the extension's own pages use the clipboard.
const run = extensionRun(BUILD_NAME);

async function openPage(path: string, viewport: { width: number; height: number }): Promise<Page> {
  const page = await run.newPage(viewport);
  await page.goto(run.browser.url(path));
  return page;
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const clipboard = (page: Page) => page.evaluate(() => navigator.clipboard.readText());

type StorageArea = { get(keys: null): Promise<Record<string, unknown>> };
/** Both storage areas as the extension sees them, read inside its service worker. */
const extensionStorage = () =>
  run.browser.serviceWorker.evaluate(async () => {
    const { storage } = (globalThis as unknown as { chrome: { storage: Record<string, StorageArea> } })
      .chrome;
    return { session: await storage.session?.get(null), local: await storage.local?.get(null) };
  });

describe('the extension in Chromium against the real server', () => {
  test('admin enables 6 backup codes; a user generates, copies, downloads and spends one', async () => {
    // --- The admin, on the options page: first run, sign-in, Multifactor section.
    const options = await openPage('options.html', { width: 1100, height: 900 });
    await options.getByLabel('Server address').fill(run.server.url);
    await options.getByRole('button', { name: 'Continue' }).click();
    await signIn(options, 'admin', run.server.adminPassword);
    await expect.poll(() => options.getByText('Signed in as admin').count()).toBe(1);

    const save = options.getByRole('button', { name: 'Save' });
    expect(await save.isDisabled()).toBe(true);
    await options.getByRole('checkbox', { name: 'Backup codes' }).check();
    expect(await save.isEnabled()).toBe(true);
    await options.getByRole('button', { name: 'Configure' }).click();
    await options.getByLabel('Number of backup codes').fill('6');
    await save.click();
    await options.getByText('Multifactor settings saved.').waitFor();
    expect(await save.isDisabled()).toBe(true);

    const admin = await call(run.server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: run.server.adminPassword },
    });
    expect(admin.body.status).toBe('ok');
    const policy = await call(run.server.url, 'GET', '/api/admin/policy', { token: admin.body.token });
    expect(policy.body.backupCodes).toMatchObject({ enabled: true, count: 6 });

    // --- The admin creates the user and sets up an authenticator for them now.
    await options.getByRole('button', { name: 'Add user' }).click();
    const form = options.locator('form', { has: options.getByRole('heading', { name: 'Add user' }) });
    await form.getByLabel('Username').fill(USER);
    await form.getByLabel('Password').fill(USER_PASSWORD);
    await form.getByRole('button', { name: 'Create user' }).click();
    await options.getByText(`${USER} was created.`).waitFor();

    await options.getByRole('button', { name: `MFA of ${USER}` }).click();
    await options.getByRole('radio', { name: /Authenticator app, configured now/ }).check();
    await options.getByRole('button', { name: 'Apply' }).click();
    const secretText = (await options.locator('.secret-text').textContent()) ?? '';
    const secret = secretText.replace(/\s+/g, '');
    expect(secret).toMatch(/^[A-Z2-7]+$/);
    await options
      .getByRole('row', { name: new RegExp(`^${USER}`) })
      .getByText('Authenticator app')
      .waitFor();
    await options.getByRole('button', { name: 'Done' }).click();
    await options.screenshot({ path: join(SCREENSHOTS_DIR, 'options.png'), fullPage: true });
    await options.getByRole('button', { name: 'Sign out' }).click();
    await options.close();

    // --- The user, in the popup: sign-in with an authenticator code.
    const popup = await openPage('popup.html', { width: 380, height: 640 });
    await signIn(popup, USER, USER_PASSWORD);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
    await popup.getByLabel('Authenticator code').fill(totp);
    await popup.getByRole('button', { name: 'Verify' }).click();
    await popup.getByText('You have no backup codes yet.').waitFor();

    // --- Generate: the confirmation asks for the password; the codes are shown once.
    await popup.getByRole('button', { name: 'Generate backup codes' }).click();
    await popup.getByLabel('Your password, to confirm').fill(USER_PASSWORD);
    await popup.getByRole('button', { name: 'Generate', exact: true }).click();
    const grid = popup.getByRole('list', { name: 'Backup codes' });
    await grid.waitFor();
    const codes = await grid.locator('code').allInnerTexts();
    expect(codes).toHaveLength(6);
    for (const code of codes) expect(code).toMatch(CODE);
    expect(new Set(codes).size).toBe(6);

    // --- Copy: one code per line and nothing else, then cleared by the background.
    await popup.getByRole('button', { name: 'Copy' }).click();
    await popup.getByText(/^Copied\. The clipboard is cleared in/).waitFor();
    expect(await clipboard(popup)).toBe(codes.join('\n'));
    await expect.poll(() => clipboard(popup), { timeout: 15_000, interval: 250 }).toBe('');

    // --- Download: a .txt named after server, user and date, holding the same codes in order.
    const [download] = await Promise.all([
      popup.waitForEvent('download'),
      popup.getByRole('button', { name: 'Download' }).click(),
    ]);
    const port = new URL(run.server.url).port;
    expect(download.suggestedFilename()).toMatch(
      new RegExp(`^sparekey-backup-codes-127\\.0\\.0\\.1_${port}-${USER}-\\d{4}-\\d{2}-\\d{2}\\.txt$`),
    );
    const file = await readFile((await download.path()) as string, 'utf8');
    expect(file.match(/[0-9A-Z]{5}-[0-9A-Z]{5}/g)).toEqual(codes);
    expect(file).toContain('Use a backup code');

    // --- Print: the background opens the print page and hands it the set, once.
    const [printPage] = await Promise.all([
      run.browser.context.waitForEvent('page'),
      popup.getByRole('button', { name: 'Print' }).click(),
    ]);
    expect(printPage.url()).toBe(run.browser.url('print.html'));
    const printed = printPage.getByRole('list', { name: 'Backup codes' });
    await printed.waitFor();
    expect(await printed.locator('code').allTextContents()).toEqual(codes);
    await printPage.reload();
    await printPage.getByText(/These codes are no longer available here/).waitFor();
    await printPage.close();

    await popup.getByRole('button', { name: 'I have stored these codes' }).click();
    await popup.getByText('6 of 6 codes left').waitFor();
    expect(await popup.getByRole('list', { name: 'Backup codes' }).count()).toBe(0);

    // --- One of the codes signs the user in through the API.
    const login = await call(run.server.url, 'POST', '/api/auth/login', {
      body: { username: USER, password: USER_PASSWORD },
    });
    expect(login.body.status).toBe('mfa_required');
    expect(login.body.methods).toContain('backup_code');
    const spent = await call(run.server.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: login.body.mfaToken, method: 'backup_code', code: codes[2] },
    });
    expect(spent.status).toBe(200);
    expect(spent.body.backupCodes).toEqual({ remaining: 5 });

    // --- The popup shows what is left, which number is spent, and the notice of the use.
    await popup.reload();
    await popup.getByText('5 of 6 codes left').waitFor();
    await popup.getByText('Used: No. 3').waitFor();
    await popup.getByRole('heading', { name: 'A backup code was used to sign in' }).waitFor();
    await popup.screenshot({ path: join(SCREENSHOTS_DIR, 'popup.png'), fullPage: true });

    // --- The token lives in session storage only; sign out forgets it and the server refuses it after.
    const before = await extensionStorage();
    const token = before.session?.sessionToken;
    expect(typeof token).toBe('string');
    expect(JSON.stringify(before.local)).not.toContain(token as string);
    expect((await call(run.server.url, 'GET', '/api/me', { token: token as string })).status).toBe(200);
    await popup.getByRole('button', { name: 'Sign out' }).click();
    await popup.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    expect((await extensionStorage()).session?.sessionToken).toBeUndefined();
    expect((await call(run.server.url, 'GET', '/api/me', { token: token as string })).status).toBe(401);
    await popup.close();
    expect(run.pageErrors).toEqual([]);
  }, 240_000);
});
