/**
 * Passwords end to end, in Debian's Chromium against the real server: an admin resets a user's
 * password on the options page and reads the temporary one shown once; the user signs in with it in
 * the popup, gets only the change form, picks a password of their own, and the popup carries on.
 */
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { extensionRun } from '../support/chromium';
import { call } from '../support/server';

const run = extensionRun('chromium-e2e');

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

describe('password reset and forced change in Chromium against the real server', () => {
  test('the admin resets bob on the options page; bob must choose his own in the popup', async () => {
    const admin = await call(run.server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: run.server.adminPassword },
    });
    const created = await call(run.server.url, 'POST', '/api/admin/users', {
      token: admin.body.token,
      body: { username: 'bob', password: 'bob-first-password' },
    });
    expect(created.status).toBe(201);

    const options = await openPage('options.html', { width: 1100, height: 900 });
    await options.getByLabel('Server address').fill(run.server.url);
    await options.getByRole('button', { name: 'Continue' }).click();
    await signIn(options, 'admin', run.server.adminPassword);
    const row = options.getByRole('row', { name: /^bob/ });
    await row.getByRole('button', { name: 'Reset password: bob' }).click();
    await row.getByRole('button', { name: 'Reset', exact: true }).click();
    await options.getByRole('heading', { name: 'Temporary password for bob' }).waitFor();
    const temporary = ((await options.locator('.secret-text').textContent()) ?? '').trim();
    expect(temporary.length).toBeGreaterThanOrEqual(20);
    await options.getByText('(must change password)').waitFor();
    // The extension keeps one session for its pages: sign the admin out before bob signs in.
    await options.getByRole('button', { name: 'Sign out' }).click();
    await options.getByRole('heading', { name: 'Sign in' }).waitFor();
    await options.close();

    const popup = await openPage('popup.html', { width: 380, height: 640 });
    await signIn(popup, 'bob', temporary);
    await popup.getByText(/choose your own to continue/).waitFor();
    expect(await popup.getByRole('button', { name: /Generate/ }).count()).toBe(0);

    await popup.getByLabel('Current password').fill(temporary);
    await popup.getByLabel('New password', { exact: true }).fill('Password1');
    await popup.getByLabel('New password again').fill('Password1');
    await popup.getByRole('button', { name: 'Change password' }).click();
    await popup.getByText(/commonly used passwords/).waitFor();

    await popup.getByLabel('Current password').fill(temporary);
    await popup.getByLabel('New password', { exact: true }).fill('bob-picked-this-one');
    await popup.getByLabel('New password again').fill('bob-picked-this-one');
    await popup.getByRole('button', { name: 'Change password' }).click();
    await popup.getByText(/Your password is changed/).waitFor();
    await popup.getByText(/Signed in as bob/).waitFor();

    // The server agrees: the temporary password is dead, bob's own works and opens everything.
    const old = await call(run.server.url, 'POST', '/api/auth/login', {
      body: { username: 'bob', password: temporary },
    });
    expect(old.status).toBe(401);
    const now = await call(run.server.url, 'POST', '/api/auth/login', {
      body: { username: 'bob', password: 'bob-picked-this-one' },
    });
    const me = await call(run.server.url, 'GET', '/api/me', { token: now.body.token });
    expect(me.body.mustChangePassword).toBe(false);
    expect(run.pageErrors).toEqual([]);
  });
});
