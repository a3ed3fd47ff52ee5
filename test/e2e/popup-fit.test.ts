/**
 * The popup fits the browser's popup (at most 800×600 px, its body scrolling beyond that) and passes the
 * accessibility check (test/support/axe.ts, with Label in Name) in every state a user meets, from the
 * first run to a notice of several code uses, kept sets of two accounts while signed out and the
 * sign-in's backup-code step with a kept code (test/support/popup-fit.ts; the main states also run in
 * Firefox, popup-fit.firefox.test.ts); the options page passes the same check in its states.
 * Debian's Chromium, the test build dist/chromium-e2e-fit, the real server.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { accessibilityViolations } from '../support/axe';
import { extensionRun, SCREENSHOTS_DIR } from '../support/chromium';
import { playwrightPage } from '../support/chromium-driver';
import { checkPopup as checkPopupIn, ROOMY } from '../support/popup-fit';
import { call } from '../support/server';
import { endPopupSession, keepNewSet } from './scenarios/extension';
import { userWithAuthenticator } from './scenarios/users';

const run = extensionRun('chromium-e2e-fit');
const ALICE = { username: 'alice', password: 'alice keeps a password', passphrase: 'a long passphrase here' };
/** A second account keeping a set in the same browser. */
const CAROL = { username: 'carol', password: 'carol keeps a password', passphrase: 'carol kept passphrase' };
const CHROME_LINUX =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const HOSTILE = `<b>x</b> ${'Chrome/1 (Linux) '.repeat(40)}`;

/** The popup in `state` fits 800×600 and has no serious accessibility violation. */
const checkPopup = (page: Page, state: string) => checkPopupIn(playwrightPage(page), state);

async function checkPage(page: Page, state: string): Promise<void> {
  expect(await accessibilityViolations(playwrightPage(page)), state).toEqual([]);
}

async function adminToken(): Promise<string> {
  const res = await call(run.server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: run.server.adminPassword },
  });
  return res.body.token;
}

async function createUser(
  admin: string,
  username: string,
  password: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await call(run.server.url, 'POST', '/api/admin/users', {
    token: admin,
    body: { username, password, ...extra },
  });
  expect(res.status).toBe(201);
  return res.body.user.id;
}

/** Signs in through the API with a backup code, as the client `userAgent` would. */
async function spendCode(code: string, userAgent: string): Promise<void> {
  const headers = { 'user-agent': userAgent };
  const login = await call(run.server.url, 'POST', '/api/auth/login', {
    body: { username: ALICE.username, password: ALICE.password },
    headers,
  });
  const mfa = await call(run.server.url, 'POST', '/api/auth/mfa', {
    body: { mfaToken: login.body.mfaToken, method: 'backup_code', code },
    headers,
  });
  expect(mfa.status).toBe(200);
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe('the options page, accessible, in every state', () => {
  test('first run (and the popup’s), sign-in, the console with its warning, add user, MFA editor, a confirmation, Configure', async () => {
    await createUser(await adminToken(), 'bob', 'bob keeps a password');
    // A fresh browser: the popup's first step, the server address.
    const popup = await run.newPage(ROOMY);
    await popup.goto(run.browser.url('popup.html'));
    await popup.getByLabel('Server address').waitFor();
    await checkPopup(popup, 'popup server setup');
    await popup.close();

    const page = await run.newPage({ width: 1100, height: 900 });
    await page.goto(run.browser.url('options.html'));
    await page.getByLabel('Server address').waitFor();
    await checkPage(page, 'options first run');
    await page.getByLabel('Server address').fill(run.server.url);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await checkPage(page, 'options sign-in');
    await signIn(page, 'admin', run.server.adminPassword);
    // The first admin has no MFA: the page says so.
    await page.getByText(/^Your own account has no multifactor authentication/).waitFor();
    await page.getByRole('row', { name: /^bob/ }).waitFor();
    await checkPage(page, 'admin console');

    await page.getByRole('button', { name: 'Configure' }).click();
    await page.getByRole('checkbox', { name: /^Administrators must use MFA/ }).check();
    await checkPage(page, 'policy, configuring');

    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('checkbox', { name: /^User must change this password at first sign-in/ }).waitFor();
    await checkPage(page, 'add user form');
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'MFA: bob', exact: true }).click();
    await checkPage(page, 'MFA editor');
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'Reset password: bob', exact: true }).click();
    await page.getByRole('group', { name: /bob/ }).waitFor();
    await checkPage(page, 'reset password confirmation');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.close();
    expect(run.pageErrors).toEqual([]);
  }, 180_000);
});

describe('the popup within 800×600, accessible, in every state', () => {
  test('first run, sign-in, MFA step, account, new codes, kept codes, a notice of several uses, kept sets of two accounts signed out, the sign-in backup-code step with a kept code', async () => {
    const admin = await adminToken();
    const policy = await call(run.server.url, 'PUT', '/api/admin/policy', {
      token: admin,
      body: {
        mfaUsage: 'optional_per_user',
        backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 },
      },
    });
    expect(policy.status).toBe(200);
    const totp = await userWithAuthenticator(run.server.url, admin, ALICE.username, ALICE.password);

    const popup = await run.newPage(ROOMY);
    // The options page (above) set the server; the popup's own first run is the same step.
    await popup.goto(run.browser.url('popup.html'));
    await popup.getByRole('heading', { name: 'Sign in' }).waitFor();
    await checkPopup(popup, 'sign-in');

    await signIn(popup, ALICE.username, ALICE.password);
    await popup.getByLabel('Authenticator code').waitFor();
    await checkPopup(popup, 'MFA step');
    await popup.getByLabel('Authenticator code').fill(totp.generate());
    await popup.getByRole('button', { name: 'Verify' }).click();
    await popup.getByText('You have no backup codes yet.').waitFor();
    await checkPopup(popup, 'account without codes');

    await popup.getByRole('button', { name: 'Generate backup codes' }).click();
    await popup.getByLabel('Your password, to confirm').fill(ALICE.password);
    await popup.getByRole('button', { name: 'Generate', exact: true }).click();
    const grid = popup.getByRole('list', { name: 'Backup codes' });
    await grid.waitFor();
    const codes = await grid.locator('code').allInnerTexts();
    await checkPopup(popup, 'new codes shown');
    await popup.getByRole('checkbox', { name: 'Keep these codes in this browser for autofill' }).check();
    await popup.getByLabel('Passphrase', { exact: true }).fill(ALICE.passphrase);
    await popup.getByLabel('Repeat the passphrase').fill(ALICE.passphrase);
    await checkPopup(popup, 'new codes, keeping them');
    await popup.getByRole('button', { name: 'I have stored these codes' }).click();
    await popup.getByRole('button', { name: 'Fill backup code #1' }).waitFor();
    await checkPopup(popup, 'account with codes and the kept-codes card');

    // Three sign-ins elsewhere, one from a client that names itself with markup, at length.
    await spendCode(codes[0] as string, CHROME_LINUX);
    await spendCode(codes[1] as string, FIREFOX_WINDOWS);
    await spendCode(codes[2] as string, HOSTILE);
    await popup.reload();
    await popup.getByRole('heading', { name: 'A backup code was used to sign in' }).waitFor();
    const lines = await popup.locator('ul.code-uses li').allInnerTexts();
    expect(lines).toEqual([
      expect.stringMatching(/^No\. 3 · .+ · Chrome on Linux · 127\.0\.0\.1$/),
      expect.stringMatching(/^No\. 2 · .+ · Firefox on Windows · 127\.0\.0\.1$/),
      expect.stringMatching(/^No\. 1 · .+ · Chrome on Linux · 127\.0\.0\.1$/),
    ]);
    for (const line of lines) expect(line).not.toMatch(/Mozilla|<b>/);
    // Each use on one line of the popup: no taller than one line of its text.
    const heights = await popup
      .locator('ul.code-uses li')
      .evaluateAll((items) =>
        items.map(
          (item) => item.getBoundingClientRect().height / Number.parseFloat(getComputedStyle(item).fontSize),
        ),
      );
    for (const height of heights) expect(height).toBeLessThan(2);
    await checkPopup(popup, 'notice of several uses');
    await popup.getByText('Details').click();
    await checkPopup(popup, 'notice of several uses, details open');
    await popup.screenshot({ path: join(SCREENSHOTS_DIR, 'popup-notice.png') });

    await popup.getByRole('button', { name: 'Sign out', exact: true }).click();
    await popup.getByRole('heading', { name: 'Sign in' }).waitFor();
    await checkPopup(popup, 'signed out, codes kept');

    // A second account keeps a set here too: signed out, the popup shows a card for each.
    const host = new URL(run.server.url).host;
    const carolTotp = await userWithAuthenticator(run.server.url, admin, CAROL.username, CAROL.password);
    await signIn(popup, CAROL.username, CAROL.password);
    await popup.getByLabel('Authenticator code').fill(carolTotp.generate());
    await popup.getByRole('button', { name: 'Verify' }).click();
    await keepNewSet(playwrightPage(popup), 'Generate backup codes', CAROL.password, CAROL.passphrase);
    await popup.getByRole('button', { name: 'Sign out', exact: true }).click();
    await popup.getByRole('heading', { name: 'Sign in' }).waitFor();
    await popup.getByText(`Kept for ${CAROL.username} on ${host}.`).waitFor();
    await popup.getByText(`Kept for ${ALICE.username} on ${host}.`).waitFor();
    await checkPopup(popup, 'signed out, kept codes for two accounts');

    // The browser restarts (the popup's session, and with it every unlocked key, is gone).
    await endPopupSession(playwrightPage(popup));
    await popup.reload();
    await popup.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect.poll(() => popup.getByText('Locked. Enter the passphrase to fill codes.').count()).toBe(2);
    await checkPopup(popup, 'signed out, two kept sets locked');

    // Alice signs in with the popup, at its backup-code step: her kept set offers its next code.
    await signIn(popup, ALICE.username, ALICE.password);
    await popup.getByRole('button', { name: 'Use a backup code' }).click();
    await popup.getByText('Your kept backup codes are locked: unlock them above to fill one here.').waitFor();
    await checkPopup(popup, 'sign-in backup-code step, kept set locked');
    const aliceCard = popup.locator('section.card', { hasText: `Kept for ${ALICE.username} on ${host}.` });
    await aliceCard.getByLabel('Passphrase', { exact: true }).fill(ALICE.passphrase);
    await aliceCard.getByRole('button', { name: 'Unlock' }).click();
    const useKept = popup.getByRole('button', { name: /^Use kept backup code #\d+$/ });
    await useKept.waitFor();
    await checkPopup(popup, 'sign-in backup-code step, "Use kept backup code #N"');
    const number = Number(((await useKept.textContent()) ?? '').replace(/\D+/g, ''));
    await useKept.click();
    await expect
      .poll(() => popup.getByLabel('Backup code', { exact: true }).inputValue())
      .toBe(codes[number - 1]);
    await checkPopup(popup, 'sign-in backup-code step, kept code filled');
    await popup.getByRole('button', { name: 'Start over' }).click();
    await popup.getByRole('heading', { name: 'Sign in' }).waitFor();

    // A user whose MFA is "None": told who can turn it on.
    await createUser(admin, 'dave', 'dave keeps a password');
    await signIn(popup, 'dave', 'dave keeps a password');
    await popup
      .getByText('Ask your administrator to set up multifactor authentication for your account.')
      .waitFor();
    await checkPopup(popup, 'account with MFA None');
    await popup.getByRole('button', { name: 'Sign out', exact: true }).click();

    // A password the admin chose: changed at first sign-in.
    await createUser(admin, 'erin', 'erin first password', { temporary: true });
    await signIn(popup, 'erin', 'erin first password');
    await popup.getByLabel('New password', { exact: true }).waitFor();
    await checkPopup(popup, 'forced password change');
    await popup.close();
    expect(run.pageErrors).toEqual([]);
  }, 240_000);
});
