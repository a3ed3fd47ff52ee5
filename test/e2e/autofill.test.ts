import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { extensionRun, SCREENSHOTS_DIR } from '../support/chromium';
import { call } from '../support/server';

const BUILD_NAME = 'chromium-e2e-autofill';
const CODE = /^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/;

const USER = 'alice';
const USER_PASSWORD = 'correct horse battery';
/** Someone else signing in on the same browser, with backup codes of their own. */
const OTHER = 'bob';
const OTHER_PASSWORD = 'bob has a password too';
const PASSPHRASE = 'kept codes passphrase';

const run = extensionRun(BUILD_NAME);

/** The admin, through the API: backup codes on with 4 per set, and the user with an authenticator now. */
async function setUpUser(): Promise<string> {
  const admin = await call(run.server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: run.server.adminPassword },
  });
  const token = admin.body.token as string;
  const policy = await call(run.server.url, 'PUT', '/api/admin/policy', {
    token,
    body: { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 } },
  });
  expect(policy.status).toBe(200);
  const created = await call(run.server.url, 'POST', '/api/admin/users', {
    token,
    body: { username: USER, password: USER_PASSWORD, role: 'user' },
  });
  expect(created.status).toBe(201);
  const mfa = await call(run.server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
    token,
    body: { mfa: { type: 'totp' } },
  });
  expect(mfa.status).toBe(200);
  return mfa.body.totp.secret as string;
}

/** A second user with an authenticator and a set of backup codes, so their sign-in offers the backup-code form. */
async function setUpOtherUser(): Promise<void> {
  const admin = await call(run.server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: run.server.adminPassword },
  });
  const created = await call(run.server.url, 'POST', '/api/admin/users', {
    token: admin.body.token,
    body: { username: OTHER, password: OTHER_PASSWORD, role: 'user' },
  });
  expect(created.status).toBe(201);
  const mfa = await call(run.server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
    token: admin.body.token,
    body: { mfa: { type: 'totp' } },
  });
  const secret = OTPAuth.Secret.fromBase32(mfa.body.totp.secret as string);
  const step = await call(run.server.url, 'POST', '/api/auth/login', {
    body: { username: OTHER, password: OTHER_PASSWORD },
  });
  const session = await call(run.server.url, 'POST', '/api/auth/mfa', {
    body: { mfaToken: step.body.mfaToken, method: 'totp', code: new OTPAuth.TOTP({ secret }).generate() },
  });
  const generated = await call(run.server.url, 'POST', '/api/me/backup-codes', {
    token: session.body.token,
    body: { password: OTHER_PASSWORD },
  });
  expect(generated.status).toBe(201);
}

/** storage.local exactly as the extension holds it, read from one of its own pages. */
async function extensionLocalStorage(page: Page): Promise<Record<string, unknown>> {
  return page.evaluate(async () => {
    type Area = { get(keys: null): Promise<Record<string, unknown>> };
    const { chrome } = globalThis as unknown as { chrome: { storage: { local: Area } } };
    return chrome.storage.local.get(null);
  });
}

interface FillButton {
  /** Its accessible name, as a screen reader hears it. */
  name: string;
  /** The centre of the button on the page, for a real (trusted) mouse click. */
  x: number;
  y: number;
}

/**
 * The inline button sits in a closed shadow root, out of reach of page scripts and of Playwright's
 * selectors. The browser's accessibility tree still shows it (a screen reader must), so the test
 * reads its label there and clicks the host element's box with the real mouse.
 */
async function fillButton(page: Page): Promise<FillButton | null> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as {
      nodes: { role?: { value?: string }; name?: { value?: string } }[];
    };
    const button = nodes.find(
      (node) =>
        node.role?.value === 'button' &&
        /backup code|SpareKey|Kept codes/.test(String(node.name?.value ?? '')) &&
        node.name?.value !== 'Verify',
    );
    const box = await page.locator('sparekey-autofill').boundingBox();
    if (!button || !box) return null;
    return { name: String(button.name?.value), x: box.x + box.width / 2, y: box.y + box.height / 2 };
  } finally {
    await cdp.detach();
  }
}

async function waitForFillButton(page: Page, name: string | RegExp): Promise<FillButton> {
  const matches = (found?: string) =>
    found !== undefined && (typeof name === 'string' ? found === name : name.test(found));
  await expect.poll(async () => matches((await fillButton(page))?.name), { timeout: 15_000 }).toBe(true);
  return (await fillButton(page)) as FillButton;
}

async function clickFillButton(page: Page, name: string | RegExp): Promise<void> {
  const button = await waitForFillButton(page, name);
  await page.mouse.click(button.x, button.y);
}

/** The server's own sign-in screen, up to its backup-code form. */
async function openBackupCodeStep(page: Page, username = USER, password = USER_PASSWORD): Promise<void> {
  await page.goto(`${run.server.url}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await page.getByRole('link', { name: 'Use a backup code' }).click();
  await page.getByRole('heading', { name: 'Use a backup code' }).waitFor();
  await page.getByText(`Signing in as ${username}`).waitFor();
}

const field = (page: Page) => page.getByLabel('Backup code');

async function verifyAndSignOut(page: Page, left: string): Promise<void> {
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await page.getByText(`Signed in as ${USER}`).waitFor();
  await page.getByText(left).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

describe('autofill in Chromium against the real server', () => {
  test('keep 4 codes in the popup, sign in on /login with filled codes one by one until none is left', async () => {
    const secret = await setUpUser();

    // --- The popup: first run, sign-in with the authenticator, a new set of 4 kept under a passphrase.
    const popup = await run.newPage({ width: 380, height: 900 });
    await popup.goto(run.browser.url('popup.html'));
    await popup.getByLabel('Server address').fill(run.server.url);
    await popup.getByRole('button', { name: 'Continue' }).click();
    await popup.getByLabel('Username').fill(USER);
    await popup.getByLabel('Password', { exact: true }).fill(USER_PASSWORD);
    await popup.getByRole('button', { name: 'Sign in' }).click();
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
    await popup.getByLabel('Authenticator code').fill(totp);
    await popup.getByRole('button', { name: 'Verify' }).click();
    await popup.getByText('You have no backup codes yet.').waitFor();
    await popup.getByText(/^No codes are kept in this browser/).waitFor();

    await popup.getByRole('button', { name: 'Generate backup codes' }).click();
    await popup.getByLabel('Your password, to confirm').fill(USER_PASSWORD);
    await popup.getByRole('button', { name: 'Generate', exact: true }).click();
    const grid = popup.getByRole('list', { name: 'Backup codes' });
    await grid.waitFor();
    const codes = await grid.locator('code').allInnerTexts();
    expect(codes).toHaveLength(4);
    for (const code of codes) expect(code).toMatch(CODE);

    await popup.getByRole('checkbox', { name: 'Keep these codes in this browser for autofill' }).check();
    await popup.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await popup.getByLabel('Repeat the passphrase').fill(PASSPHRASE);
    await popup.getByRole('button', { name: 'I have stored these codes' }).click();
    await popup.getByText('4 of 4 codes left').waitFor();
    await popup.getByText('4 of 4 kept codes unused').waitFor();
    await popup.getByRole('button', { name: 'Fill backup code #1' }).waitFor();
    await popup.screenshot({ path: join(SCREENSHOTS_DIR, 'autofill-popup.png'), fullPage: true });

    // --- What the extension wrote to disk: sealed, no code in plain text, with or without its dash.
    const stored = JSON.stringify(await extensionLocalStorage(popup));
    expect(stored).toContain('AES-GCM');
    for (const code of codes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace('-', ''));
    }
    expect(stored).not.toContain(PASSPHRASE);

    // --- Locked, the button offers #1 but gives nothing until the popup unlocks.
    await popup.getByRole('button', { name: 'Lock now' }).click();
    await popup.getByText('Locked. Enter the passphrase to fill codes.').waitFor();

    const site = await run.newPage({ width: 900, height: 640 });
    await openBackupCodeStep(site);
    await waitForFillButton(site, 'Fill backup code #1');
    // Offered, never filled on load.
    expect(await field(site).inputValue()).toBe('');
    await site.screenshot({ path: join(SCREENSHOTS_DIR, 'autofill.png') });

    await clickFillButton(site, 'Fill backup code #1');
    await waitForFillButton(site, 'Unlock SpareKey from the toolbar, then click again');
    expect(await field(site).inputValue()).toBe('');

    await popup.bringToFront();
    await popup.getByLabel('Passphrase', { exact: true }).fill('not the passphrase');
    await popup.getByRole('button', { name: 'Unlock' }).click();
    await popup.getByText('Wrong passphrase. Nothing was changed.').waitFor();
    await popup.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await popup.getByRole('button', { name: 'Unlock' }).click();
    await popup.getByRole('button', { name: 'Fill backup code #1' }).waitFor();

    // --- Sign-in 1: the inline button, clicked with the real mouse, fills #1; the server takes it.
    // Back on the page, the button may have refreshed (window focus) to the number again: either is fine.
    await site.bringToFront();
    await clickFillButton(site, /^(Unlock SpareKey from the toolbar, then click again|Fill backup code #1)$/);
    await waitForFillButton(site, 'Filled backup code #1');
    expect(await field(site).inputValue()).toBe(codes[0]);
    await verifyAndSignOut(site, '3 of 4 backup codes left');

    // --- Sign-in 2: the extension synced with the server, so the next offer is #2, not #1.
    await openBackupCodeStep(site);
    await clickFillButton(site, 'Fill backup code #2');
    await waitForFillButton(site, 'Filled backup code #2');
    expect(await field(site).inputValue()).toBe(codes[1]);
    const record = (await extensionLocalStorage(popup))['sparekey.vault'] as { spent: number[] };
    expect(record.spent).toEqual([1]);
    await verifyAndSignOut(site, '2 of 4 backup codes left');

    // --- Bob signs in on this browser: alice's kept codes are not offered to him, and none is filled.
    await setUpOtherUser();
    await openBackupCodeStep(site, OTHER, OTHER_PASSWORD);
    await clickFillButton(site, `Kept codes belong to ${USER}, not ${OTHER}`);
    await site.waitForTimeout(300);
    expect(await field(site).inputValue()).toBe('');
    // Nothing was handed out: only the two codes alice spent are marked, none is awaiting a sync.
    const untouched = (await extensionLocalStorage(popup))['sparekey.vault'];
    expect(untouched).toMatchObject({ spent: [1, 2], pending: [] });

    // --- Sign-in 3 fills from the popup's button instead, into the active tab; sign-in 4 spends the last.
    await openBackupCodeStep(site);
    await waitForFillButton(site, 'Fill backup code #3');
    await site.bringToFront();
    await popup.reload();
    await popup.getByRole('button', { name: 'Fill backup code #3' }).click();
    await popup.getByText('Filled backup code #3').waitFor();
    await waitForFillButton(site, 'Filled backup code #3');
    expect(await field(site).inputValue()).toBe(codes[2]);
    await verifyAndSignOut(site, '1 of 4 backup codes left');

    await openBackupCodeStep(site);
    await clickFillButton(site, 'Fill backup code #4');
    await waitForFillButton(site, 'Filled backup code #4');
    expect(await field(site).inputValue()).toBe(codes[3]);
    await verifyAndSignOut(site, '0 of 4 backup codes left');

    // --- None left: the server's step offers no backup code, and the popup says none is kept.
    await site.getByLabel('Username').fill(USER);
    await site.getByLabel('Password').fill(USER_PASSWORD);
    await site.getByRole('button', { name: 'Sign in' }).click();
    await site.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    expect(await site.getByRole('link', { name: 'Use a backup code' }).count()).toBe(0);

    await popup.bringToFront();
    await popup.reload();
    await popup.getByText('0 of 4 codes left').waitFor();
    await popup.getByText('No kept codes left. Generate a new set and keep it.').waitFor();
    expect(await popup.getByRole('button', { name: /Fill backup code/ }).count()).toBe(0);
    const spent = (await extensionLocalStorage(popup))['sparekey.vault'] as { spent: number[] };
    expect(spent.spent).toEqual([1, 2, 3, 4]);

    const audit = await call(run.server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: run.server.adminPassword },
    });
    const events = await call(run.server.url, 'GET', '/api/admin/audit?limit=100&type=backup_code_used', {
      token: audit.body.token,
    });
    expect(
      events.body.events.map((event: { details: { number: number } }) => event.details.number).sort(),
    ).toEqual([1, 2, 3, 4]);
    expect(run.pageErrors).toEqual([]);
  }, 300_000);
});
