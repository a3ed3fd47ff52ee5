/**
 * The popup steps a user takes to get codes into the browser, for the Chromium e2e files that drive
 * Playwright pages directly: sign in with the authenticator, generate a set, keep it for autofill.
 * (The cross-browser scenarios do the same through the Driver, in test/e2e/scenarios/users.ts.)
 */
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';

export interface PopupUser {
  username: string;
  password: string;
  /** The user's TOTP secret (base32). */
  secret: string;
  passphrase: string;
}

/**
 * Opens `popupUrl`, signs in (first setting the server address when `serverUrl` is given), generates
 * a set and keeps it. Resolves with the codes shown, once the first one can be filled.
 */
export async function keepCodesInPopup(
  popup: Page,
  popupUrl: string,
  user: PopupUser,
  serverUrl?: string,
): Promise<string[]> {
  await popup.goto(popupUrl);
  if (serverUrl) {
    await popup.getByLabel('Server address').fill(serverUrl);
    await popup.getByRole('button', { name: 'Continue' }).click();
  }
  await popup.getByLabel('Username').fill(user.username);
  await popup.getByLabel('Password', { exact: true }).fill(user.password);
  await popup.getByRole('button', { name: 'Sign in' }).click();
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(user.secret) }).generate();
  await popup.getByLabel('Authenticator code').fill(totp);
  await popup.getByRole('button', { name: 'Verify' }).click();
  await popup.getByRole('button', { name: 'Generate backup codes' }).click();
  await popup.getByLabel('Your password, to confirm').fill(user.password);
  await popup.getByRole('button', { name: 'Generate', exact: true }).click();
  const grid = popup.getByRole('list', { name: 'Backup codes' });
  await grid.waitFor();
  const codes = await grid.locator('code').allInnerTexts();
  await popup.getByRole('checkbox', { name: 'Keep these codes in this browser for autofill' }).check();
  await popup.getByLabel('Passphrase', { exact: true }).fill(user.passphrase);
  await popup.getByLabel('Repeat the passphrase').fill(user.passphrase);
  await popup.getByRole('button', { name: 'I have stored these codes' }).click();
  await popup.getByRole('button', { name: 'Fill backup code #1' }).waitFor();
  return codes;
}
