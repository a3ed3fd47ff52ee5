/**
 * Firefox caps a popup at 800×600 px too: the popup's main states, from the first run to the sign-in's
 * backup-code step with a kept code, measured and checked with axe (test/support/popup-fit.ts) as in
 * Chromium (popup-fit.test.ts, which also covers the rarer states). Debian's Firefox ESR, the shipped
 * Firefox build in dist/firefox-e2e-fit, the real server.
 */
import { describe, expect, test } from 'vitest';
import { eventually, waitForText } from '../support/driver';
import { firefoxDriver } from '../support/firefox';
import { checkPopup, ROOMY } from '../support/popup-fit';
import { call } from '../support/server';
import { connect, endPopupSession, keepNewSet, signIn } from './scenarios/extension';
import { userWithAuthenticator } from './scenarios/users';

const driver = firefoxDriver('firefox-e2e-fit');
const USER = 'alice';
const PASSWORD = 'alice keeps a password';
const PASSPHRASE = 'a long passphrase here';

describe('the popup within 800×600, accessible, in Firefox', () => {
  test('first run, sign-in, MFA step, account, a kept set, signed out with it locked, the sign-in backup-code step with a kept code', async () => {
    const { server } = driver;
    const admin = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: server.adminPassword },
    });
    const policy = await call(server.url, 'PUT', '/api/admin/policy', {
      token: admin.body.token,
      body: {
        mfaUsage: 'optional_per_user',
        backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 },
      },
    });
    expect(policy.status).toBe(200);
    const totp = await userWithAuthenticator(server.url, admin.body.token, USER, PASSWORD);

    const popup = await driver.openExtensionPage('popup.html', ROOMY);
    await waitForText(popup, 'Server address');
    await checkPopup(popup, 'server setup');
    await connect(popup, server.url);
    await popup.waitFor('heading', 'Sign in');
    await checkPopup(popup, 'sign-in');

    await signIn(popup, USER, PASSWORD);
    await popup.waitFor('heading', 'Verify it is you');
    await checkPopup(popup, 'MFA step');
    await popup.fill('Authenticator code', totp.generate());
    await popup.click('button', 'Verify');
    await waitForText(popup, 'You have no backup codes yet.');
    await checkPopup(popup, 'account without codes');

    const codes = await keepNewSet(popup, 'Generate backup codes', PASSWORD, PASSPHRASE);
    await checkPopup(popup, 'account with codes and the kept-codes card');

    // Signed out after a browser restart: the kept set is locked, its card before the sign-in form.
    await popup.click('button', 'Sign out');
    await popup.waitFor('heading', 'Sign in');
    await endPopupSession(popup);
    await popup.reload();
    await popup.waitFor('heading', 'Sign in');
    await waitForText(popup, 'Locked. Enter the passphrase to fill codes.');
    await checkPopup(popup, 'signed out, kept set locked');

    // The popup's own sign-in, at its backup-code step: locked, then the kept code offered and filled.
    await signIn(popup, USER, PASSWORD);
    await popup.click('button', 'Use a backup code');
    await waitForText(popup, 'Your kept backup codes are locked: unlock them above to fill one here.');
    await checkPopup(popup, 'sign-in backup-code step, kept set locked');
    await popup.fill('Passphrase', PASSPHRASE);
    await popup.click('button', 'Unlock');
    await popup.waitFor('button', 'Use kept backup code #1');
    await checkPopup(popup, 'sign-in backup-code step, "Use kept backup code #1"');
    await popup.click('button', 'Use kept backup code #1');
    await eventually(
      () => popup.inputValue('Backup code'),
      (value) => value === codes[0],
      { what: 'kept code #1 in the Backup code field' },
    );
    await checkPopup(popup, 'sign-in backup-code step, kept code filled');
    expect(driver.pageErrors).toEqual([]);
  }, 180_000);
});
