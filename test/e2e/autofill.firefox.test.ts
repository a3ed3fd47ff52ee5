/**
 * Autofill end to end in Debian's Firefox ESR with the shipped Firefox build, against the real server
 * (the scenario in scenarios/autofill.ts, the same as in Chromium): the content script is registered
 * once the host permission is granted through the optional-permission request, the unlocked key
 * lives in Firefox's storage.session, and the fill button in its closed shadow root is clicked with
 * the real mouse.
 */
import { describe, test } from 'vitest';
import { firefoxDriver } from '../support/firefox';
import { autofillScenario } from './scenarios/autofill';

const driver = firefoxDriver('firefox-e2e-autofill');

describe('autofill in Firefox against the real server', () => {
  test(
    'keep 4 codes, sign in on /login with filled codes until none is left, one with no popup session (one code spent); two users each fill only their own',
    () => autofillScenario(driver),
    300_000,
  );
});
