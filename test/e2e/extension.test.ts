/**
 * The extension end to end in Debian's Chromium against the real server (the scenario in
 * scenarios/extension.ts; the same runs in Firefox in extension.firefox.test.ts), and the popup in the
 * dark color scheme. Uses the test build (dist/chromium-e2e: loopback host granted in the manifest,
 * clipboard cleared after 2 s, not 30 s).
 */
import { describe, expect, test } from 'vitest';
import { chromiumDriver } from '../support/chromium-driver';
import { backgroundRgb, luminance, signedInPopup } from './scenarios/appearance';
import { adminAndUserScenario } from './scenarios/extension';

// No grantPermissions: Chromium refuses it for extension origins, and the manifest's clipboardRead
// and clipboardWrite already let the extension's own pages use the clipboard.
describe('the extension in Chromium against the real server', () => {
  const driver = chromiumDriver('chromium-e2e');
  test(
    'admin enables 6 backup codes; a user generates, copies, downloads and spends one',
    () => adminAndUserScenario(driver),
    240_000,
  );
});

// The dark scheme is checked once, here; the French locale once, in Firefox (extension.firefox.test.ts).
describe('the popup in the dark color scheme, in Chromium', () => {
  const driver = chromiumDriver('chromium-e2e', { colorScheme: 'dark' });
  test('the signed-in popup has a dark background and light text', async () => {
    const popup = await signedInPopup(driver, 'en');
    expect(luminance(await backgroundRgb(popup))).toBeLessThan(0.05);
    const text = await popup.evaluate(() => getComputedStyle(document.body).color);
    expect(luminance((text.match(/\d+/g) ?? []).map(Number))).toBeGreaterThan(0.6);
    await popup.screenshot('popup-dark.png', { fullPage: true });
    expect(driver.pageErrors).toEqual([]);
  }, 120_000);
});
