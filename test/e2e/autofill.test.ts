/**
 * Autofill end to end in Debian's Chromium against the real server (the scenario in
 * scenarios/autofill.ts; the same runs in Firefox in autofill.firefox.test.ts), with its own test
 * build (dist/chromium-e2e-autofill) so it runs beside extension.test.ts.
 */
import { describe, test } from 'vitest';
import { chromiumDriver } from '../support/chromium-driver';
import { autofillScenario } from './scenarios/autofill';

const driver = chromiumDriver('chromium-e2e-autofill');

describe('autofill in Chromium against the real server', () => {
  test(
    'keep 4 codes, sign in on /login with filled codes until none is left, one with no popup session (one code spent); two users each fill only their own',
    () => autofillScenario(driver),
    300_000,
  );
});
