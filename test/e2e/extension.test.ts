/**
 * The extension end to end in Debian's Chromium against the real server (the scenario in
 * scenarios/extension.ts; the same runs in Firefox in extension.firefox.test.ts). Uses the test build
 * (dist/chromium-e2e: loopback host granted in the manifest, clipboard cleared after 2 s, not 30 s).
 */
import { describe, test } from 'vitest';
import { chromiumDriver } from '../support/chromium-driver';
import { adminAndUserScenario } from './scenarios/extension';

// No grantPermissions: Chromium refuses it for extension origins, and the manifest's clipboardRead
// and clipboardWrite already let the extension's own pages use the clipboard.
const driver = chromiumDriver('chromium-e2e');

describe('the extension in Chromium against the real server', () => {
  test(
    'admin enables 6 backup codes; a user generates, copies, downloads and spends one',
    () => adminAndUserScenario(driver),
    240_000,
  );
});
