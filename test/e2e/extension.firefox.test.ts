/**
 * The extension end to end in Debian's Firefox ESR against the real server, with the shipped Firefox
 * build (the scenario in scenarios/extension.ts, the same as in Chromium): the host permission is
 * granted through the optional-permission request, the clipboard is cleared by the background page
 * after the shipped 30 s, the session token lives in Firefox's storage.session. Then the popup in
 * French, with Debian's French language pack.
 */
import { describe, expect, test } from 'vitest';
import { assertFrenchLangpack, firefoxDriver } from '../support/firefox';
import { message, signedInPopup } from './scenarios/appearance';
import { adminAndUserScenario } from './scenarios/extension';

describe('the extension in Firefox against the real server', () => {
  const driver = firefoxDriver('firefox-e2e');
  test(
    'admin enables 6 backup codes; a user generates, copies, downloads and spends one',
    () => adminAndUserScenario(driver),
    240_000,
  );
});

// The French locale is checked once, here; the dark scheme once, in Chromium (extension.test.ts).
describe('the popup in French, in Firefox', () => {
  const driver = firefoxDriver('firefox-e2e', {
    prefs: { 'intl.locale.requested': 'fr' },
    before: assertFrenchLangpack,
  });
  test('the signed-in popup speaks French', async () => {
    const popup = await signedInPopup(driver, 'fr');
    const text = await popup.text();
    expect(text).toContain(message('fr', 'backupCodesHeading'));
    expect(text).toContain(message('fr', 'signOut'));
    expect(text).not.toContain(message('en', 'codesLeft', 6, 6));
    expect(await popup.evaluate(() => document.documentElement.lang)).toBe('fr');
    await popup.screenshot('popup-fr.png', { fullPage: true });
    expect(driver.pageErrors).toEqual([]);
  }, 120_000);
});
