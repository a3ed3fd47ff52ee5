/**
 * SpareKey as an OpenID Connect provider, end to end in Debian's Chromium with the built extension:
 * an admin registers a relying party on the options page; a user who keeps her backup codes in the
 * extension signs in to that application through SpareKey's /login with "Use a backup code" and the
 * extension's fill button; a second application then signs her in without a prompt (single sign-on);
 * logging out at the application ends the SpareKey session. The relying parties are real
 * (test/support/relying-party.ts: openid-client) on other loopback ports, on another site
 * (localhost) than SpareKey (127.0.0.1).
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { extensionRun, SCREENSHOTS_DIR } from '../support/chromium';
import { clickFillButton, waitForFillButton } from '../support/fill-button';
import { keepCodesInPopup } from '../support/popup-codes';
import { type RelyingParty, startRelyingParty } from '../support/relying-party';
import { call } from '../support/server';

const BUILD_NAME = 'chromium-e2e-oidc';
const CODE = /^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/;
const USER = 'alice';
const USER_PASSWORD = 'correct horse battery';
const PASSPHRASE = 'kept codes passphrase';
const SESSION_COOKIE = 'sparekey_session';
const LOCKED_LABEL = 'Unlock SpareKey from the toolbar, then click again';

const run = extensionRun(BUILD_NAME);
let wiki: RelyingParty;
let tracker: RelyingParty;

beforeAll(async () => {
  wiki = await startRelyingParty({ issuer: run.server.url, name: 'Team Wiki' });
  tracker = await startRelyingParty({ issuer: run.server.url, name: 'Issue Tracker' });
});
afterAll(async () => {
  await wiki?.close();
  await tracker?.close();
});

async function adminToken(): Promise<string> {
  const admin = await call(run.server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: run.server.adminPassword },
  });
  expect(admin.body.status).toBe('ok');
  return admin.body.token as string;
}

/** Backup codes on with 4 per set, and alice with an authenticator: returns her id and TOTP secret. */
async function setUpAlice(token: string): Promise<{ id: string; secret: string }> {
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
  const id = created.body.user.id as string;
  const mfa = await call(run.server.url, 'PATCH', `/api/admin/users/${id}`, {
    token,
    body: { mfa: { type: 'totp' } },
  });
  expect(mfa.status).toBe(200);
  return { id, secret: mfa.body.totp.secret as string };
}

/** The admin registers `rp` on the options page and reads its client id and secret off the page. */
async function registerOnOptionsPage(options: Page, rp: RelyingParty, name: string): Promise<void> {
  const section = options.getByRole('region', { name: 'Applications' });
  await section.getByRole('button', { name: 'Register application' }).click();
  const form = options.getByRole('form', { name: 'Register application' });
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Redirect URIs', { exact: true }).fill(rp.redirectUri);
  await form.getByLabel('Post-logout redirect URIs').fill(rp.postLogoutRedirectUri);
  await form.getByRole('radio', { name: /^Confidential/ }).check();
  await form.getByRole('button', { name: 'Register' }).click();

  const panel = options.getByRole('region', { name: `Client secret of ${name}` });
  await panel.getByText('you will not see it again', { exact: false }).waitFor();
  const [clientId, clientSecret] = await panel.locator('code').allInnerTexts();
  expect(clientId).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  expect(clientSecret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  // The copy button puts the secret on the clipboard (and the test build clears it 2 s later).
  await panel.getByRole('button', { name: 'Copy' }).click();
  await panel.getByText(/^Copied\./).waitFor();
  expect(await options.evaluate(() => navigator.clipboard.readText())).toBe(clientSecret);
  rp.setClient(clientId as string, clientSecret);

  await panel.getByRole('button', { name: 'Done' }).click();
  expect(await options.getByText(clientSecret as string).count()).toBe(0);
  const row = section.getByRole('row', { name: new RegExp(`^${name}`) });
  await row.getByText(clientId as string).waitFor();
  await row.getByText(rp.redirectUri).waitFor();
}

/** Every page the tab showed (redirects are not pages: they never commit). */
function pagesShown(page: Page): string[] {
  const shown: string[] = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) shown.push(frame.url());
  });
  return shown;
}

async function sessionCookie(page: Page): Promise<string | undefined> {
  const cookies = await page.context().cookies(run.server.url);
  return cookies.find((cookie) => cookie.name === SESSION_COOKIE)?.value;
}

describe('OpenID Connect in Chromium with the extension', () => {
  test('backup code filled by the extension signs alice in to an application; SSO to a second; logout ends SpareKey', async () => {
    const token = await adminToken();
    const alice = await setUpAlice(token);
    const server = new URL(run.server.url);
    const isSparekey = (url: string, path: string) => {
      const parsed = new URL(url);
      return parsed.origin === server.origin && parsed.pathname === path;
    };

    // --- The admin registers the wiki on the options page (confidential: a secret, shown once) ...
    const options = await run.newPage({ width: 1200, height: 900 });
    await options.goto(run.browser.url('options.html'));
    await options.getByLabel('Server address').fill(run.server.url);
    await options.getByRole('button', { name: 'Continue' }).click();
    await options.getByLabel('Username').fill('admin');
    await options.getByLabel('Password', { exact: true }).fill(run.server.adminPassword);
    await options.getByRole('button', { name: 'Sign in' }).click();
    await options.getByRole('heading', { name: 'Applications' }).waitFor();
    await options.getByText('No application is registered yet.').waitFor();
    await registerOnOptionsPage(options, wiki, 'Team Wiki');

    // ... and the tracker through the admin API, as a public application (PKCE only, no secret).
    const registered = await call(run.server.url, 'POST', '/api/admin/applications', {
      token,
      body: {
        name: 'Issue Tracker',
        type: 'public',
        redirectUris: [tracker.redirectUri],
        postLogoutRedirectUris: [tracker.postLogoutRedirectUri],
      },
    });
    expect(registered.status).toBe(201);
    expect(registered.body).not.toHaveProperty('clientSecret');
    tracker.setClient(registered.body.application.clientId);
    await options.reload();
    const section = options.getByRole('region', { name: 'Applications' });
    await section.getByRole('row', { name: /^Issue Tracker/ }).waitFor();
    await section.screenshot({ path: join(SCREENSHOTS_DIR, 'options-applications.png') });
    // The extension has one session: the admin's ends before alice signs in to the popup.
    await options.getByRole('button', { name: 'Sign out' }).click();
    await options.close();

    // --- alice keeps a set of 4 codes in this browser.
    const popup = await run.newPage({ width: 380, height: 900 });
    // The server address is set already (on the options page): the popup starts at its sign-in.
    const codes = await keepCodesInPopup(popup, run.browser.url('popup.html'), {
      username: USER,
      password: USER_PASSWORD,
      secret: alice.secret,
      passphrase: PASSPHRASE,
    });
    expect(codes).toHaveLength(4);
    for (const code of codes) expect(code).toMatch(CODE);
    await popup.getByText('4 of 4 kept codes unused').waitFor();
    // The popup's session ends (as when the browser restarts, storage.session is emptied, and the
    // unlocked key with it): the kept codes need no session, only the passphrase.
    await popup.evaluate(() =>
      (
        globalThis as unknown as { chrome: { storage: { session: { clear(): Promise<void> } } } }
      ).chrome.storage.session.clear(),
    );
    await popup.reload();
    await popup.getByRole('heading', { name: 'Sign in' }).waitFor();
    await popup.getByText(`Kept for ${USER} on ${server.host}.`).waitFor();

    // --- At the wiki: redirected to SpareKey's /login, password, "Use a backup code", filled #1.
    const site = await run.newPage({ width: 900, height: 760 });
    const shown = pagesShown(site);
    await site.goto(`${wiki.url}/login`);
    await site.waitForURL((url) => isSparekey(url.href, '/login'));
    await site.getByLabel('Username').fill(USER);
    await site.getByLabel('Password').fill(USER_PASSWORD);
    await site.getByRole('button', { name: 'Sign in' }).click();
    await site.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await site.getByRole('link', { name: 'Use a backup code' }).click();
    await site.getByRole('heading', { name: 'Use a backup code' }).waitFor();
    await clickFillButton(site, 'Fill backup code #1');
    await waitForFillButton(site, LOCKED_LABEL);
    await popup.bringToFront();
    await popup.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await popup.getByRole('button', { name: 'Unlock' }).click();
    await popup.getByRole('button', { name: 'Fill backup code #1' }).waitFor();
    await site.bringToFront();
    await clickFillButton(site, new RegExp(`^(${LOCKED_LABEL}|Fill backup code #1)$`));
    await waitForFillButton(site, 'Filled backup code #1');
    expect(await site.getByLabel('Backup code').inputValue()).toBe(codes[0]);
    await site.getByRole('button', { name: 'Verify' }).click();

    // --- Back at the wiki, signed in: who, how (amr), and that 3 of 4 codes are left.
    await site.waitForURL(`${wiki.url}/`);
    expect(await site.locator('#user').textContent()).toBe('Signed in as alice');
    expect(await site.locator('#amr').textContent()).toBe('amr: pwd otp mfa');
    expect(await site.locator('#acr').textContent()).toBe('acr: urn:sparekey:acr:mfa');
    expect(await site.locator('#backup-code').textContent()).toBe('A backup code was used: 3 of 4 left');
    expect(wiki.last?.claims).toMatchObject({
      sub: alice.id,
      iss: run.server.url,
      preferred_username: USER,
      amr: ['pwd', 'otp', 'mfa'],
      sparekey_backup_code: { used: true, remaining: 3, total: 4 },
    });
    expect(wiki.last?.userinfo).toMatchObject({ sub: alice.id, preferred_username: USER });
    expect(shown.some((url) => url.startsWith(`${run.server.url}/interaction/`))).toBe(true);
    await site.screenshot({ path: join(SCREENSHOTS_DIR, 'oidc-relying-party.png'), fullPage: true });

    // The server counted the code, and the extension offers #2 next.
    const me = await call(run.server.url, 'GET', '/api/admin/users', { token });
    const stored = me.body.users.find((user: { id: string }) => user.id === alice.id);
    expect(stored.backupCodes).toMatchObject({ total: 4, remaining: 3 });
    await popup.reload();
    await popup.getByRole('button', { name: 'Fill backup code #2' }).waitFor();

    // --- The tracker, in the same browser: signed in without any SpareKey sign-in page (SSO).
    const sparekeySession = await sessionCookie(site);
    expect(sparekeySession).toBeTruthy();
    shown.length = 0;
    await site.goto(`${tracker.url}/login`);
    await site.waitForURL(`${tracker.url}/`);
    expect(await site.locator('#user').textContent()).toBe('Signed in as alice');
    expect(shown.some((url) => isSparekey(url, '/login') || isSparekey(url, '/login/mfa'))).toBe(false);
    expect(tracker.last?.claims).toMatchObject({ sub: alice.id, amr: ['pwd', 'otp', 'mfa'] });

    // --- Logout at the wiki (RP-initiated): SpareKey asks, then ends its own session too.
    await site.goto(`${wiki.url}/`);
    await site.getByRole('link', { name: 'Sign out' }).click();
    await site.getByRole('heading', { name: 'Sign out of SpareKey?' }).waitFor();
    await site.getByRole('button', { name: 'Sign out' }).click();
    await site.waitForURL(`${wiki.url}/logged-out`);
    await site.getByText('You have signed out.').waitFor();

    // The browser no longer holds the session cookie, and the server no longer knows the session.
    expect(await sessionCookie(site)).toBeUndefined();
    const replayed = await fetch(`${run.server.url}/account`, {
      headers: { cookie: `${SESSION_COOKIE}=${sparekeySession}` },
      redirect: 'manual',
    });
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get('location')).toBe('/login');
    const logouts = await call(run.server.url, 'GET', `/api/admin/audit?type=logout&userId=${alice.id}`, {
      token,
    });
    expect(logouts.body.events).toHaveLength(1);

    // --- Logout at the tracker too, whose own sign-in is still open: SpareKey has no provider
    // session left, and asks all the same (no page signs anyone out without a click).
    await site.goto(`${tracker.url}/`);
    await site.getByRole('link', { name: 'Sign out' }).click();
    await site.getByRole('heading', { name: 'Sign out of SpareKey?' }).waitFor();
    await site.getByRole('button', { name: 'Sign out' }).click();
    await site.waitForURL(`${tracker.url}/logged-out`);
    await site.getByText('You have signed out.').waitFor();

    // /account asks to sign in, and so does the next application sign-in: no SSO any more.
    await site.goto(`${run.server.url}/account`);
    await site.waitForURL((url) => isSparekey(url.href, '/login'));
    await site.getByRole('heading', { name: 'Sign in' }).waitFor();
    await site.goto(`${tracker.url}/login`);
    await site.waitForURL((url) => isSparekey(url.href, '/login'));
    await site.getByLabel('Password').waitFor();

    const signIns = await call(run.server.url, 'GET', '/api/admin/audit?type=application_sign_in', { token });
    expect(
      signIns.body.events.map((event: { details: { name: string } }) => event.details.name).sort(),
    ).toEqual(['Issue Tracker', 'Team Wiki']);
    expect(run.pageErrors).toEqual([]);
  }, 300_000);

  test('another site sending the browser to the logout endpoint signs nobody out; the click on Sign out does', async () => {
    const token = await adminToken();
    const policy = await call(run.server.url, 'PUT', '/api/admin/policy', {
      token,
      body: { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 } },
    });
    expect(policy.status).toBe(200);
    const created = await call(run.server.url, 'POST', '/api/admin/users', {
      token,
      body: { username: 'erin', password: USER_PASSWORD, role: 'user' },
    });
    expect(created.status).toBe(201);

    // A browser of its own state: no sign-in to an application pending from the test before.
    await run.browser.context.clearCookies();
    const page = await run.newPage({ width: 900, height: 760 });
    await page.goto(`${run.server.url}/login`);
    await page.getByLabel('Username').fill('erin');
    await page.getByLabel('Password').fill(USER_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${run.server.url}/account`);
    await page.getByText('Signed in as erin').waitFor();

    // A page of another site (the wiki's origin) sends the tab to SpareKey's end-session endpoint.
    await page.goto(`${wiki.url}/`);
    const endSession = `${run.server.url}/oidc/session/end`;
    await page.evaluate((target) => {
      window.location.href = target;
    }, endSession);
    await page.getByRole('heading', { name: 'Sign out of SpareKey?' }).waitFor();
    // A page that posted itself on would have left by now.
    await page.waitForTimeout(1500);
    expect(page.url()).toBe(endSession);
    const account = await run.newPage({ width: 900, height: 760 });
    await account.goto(`${run.server.url}/account`);
    await account.getByText('Signed in as erin').waitFor();

    // The person's own click signs them out of SpareKey.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You have signed out of SpareKey.').waitFor();
    await account.goto(`${run.server.url}/account`);
    await account.waitForURL(`${run.server.url}/login`);
    expect(await sessionCookie(account)).toBeUndefined();
    expect(run.pageErrors).toEqual([]);
  }, 120_000);
});
