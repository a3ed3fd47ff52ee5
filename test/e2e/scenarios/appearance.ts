/**
 * The popup as a signed-in user sees it, driven in the browser's own language: the locale and the
 * color scheme come from how the driver's browser was started, the labels from the extension's own
 * catalogue (extension/_locales), so the same steps work in English and in French.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import type { Driver, UiPage } from '../../support/driver';
import { waitForText } from '../../support/driver';
import { call } from '../../support/server';
import { userWithCodes } from './users';

const USER = 'carol';
const USER_PASSWORD = 'carol keeps a password';

type Catalogue = Record<string, { message: string; placeholders?: Record<string, { content: string }> }>;

/** A message of the extension's catalogue for `lang`, with its $PLACEHOLDERS$ filled as the browser does. */
export function message(lang: 'en' | 'fr', key: string, ...substitutions: (string | number)[]): string {
  const catalogue = JSON.parse(
    readFileSync(resolve(import.meta.dirname, '../../../extension/_locales', lang, 'messages.json'), 'utf8'),
  ) as Catalogue;
  const entry = catalogue[key];
  if (!entry) throw new Error(`no message ${key} in ${lang}`);
  return entry.message.replace(/\$([A-Za-z0-9_]+)\$/g, (_, name: string) => {
    const content = entry.placeholders?.[name.toLowerCase()]?.content ?? '';
    return content.replace(/\$(\d)/g, (__, index: string) => String(substitutions[Number(index) - 1] ?? ''));
  });
}

/**
 * Sets up, through the API, a user with an authenticator and a fresh set of 6 codes, then signs them
 * in through the popup in `lang` and returns the popup showing their account.
 */
export async function signedInPopup(driver: Driver, lang: 'en' | 'fr'): Promise<UiPage> {
  const { server } = driver;
  const admin = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  const policy = await call(server.url, 'PUT', '/api/admin/policy', {
    token: admin.body.token,
    body: { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 6, warnWhenRemaining: 2 } },
  });
  expect(policy.status).toBe(200);
  const totp = await userWithCodes(server.url, server.adminPassword, USER, USER_PASSWORD);

  const popup = await driver.openExtensionPage('popup.html', { width: 380, height: 640 });
  await popup.fill(message(lang, 'serverUrlLabel'), server.url);
  await popup.click('button', message(lang, 'setupContinue'));
  await popup.fill(message(lang, 'usernameLabel'), USER);
  await popup.fill(message(lang, 'passwordLabel'), USER_PASSWORD);
  await popup.click('button', message(lang, 'signInButton'));
  // The code of the next 30-s step (the server accepts one step of drift): this step's was spent above.
  await popup.fill(message(lang, 'totpLabel'), totp.generate({ timestamp: Date.now() + 30_000 }));
  await popup.click('button', message(lang, 'verifyButton'));
  await waitForText(popup, message(lang, 'codesLeft', 6, 6));
  return popup;
}

/** The page's background as [r, g, b], from its computed style. */
export async function backgroundRgb(page: UiPage): Promise<number[]> {
  const color = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  return (color.match(/\d+/g) ?? []).slice(0, 3).map(Number);
}

/** Relative luminance (WCAG), 0 for black to 1 for white. */
export function luminance([r = 0, g = 0, b = 0]: number[]): number {
  const linear = (channel: number) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}
