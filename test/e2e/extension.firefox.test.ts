/**
 * The extension end to end in Debian's Firefox ESR against the real server, with the shipped Firefox
 * build (the scenario in scenarios/extension.ts, the same as in Chromium): the host permission is
 * granted through the optional-permission request, the clipboard is cleared by the background page
 * after the shipped 30 s, the session token lives in Firefox's storage.session.
 */
import { describe, test } from 'vitest';
import { firefoxDriver } from '../support/firefox';
import { adminAndUserScenario } from './scenarios/extension';

const driver = firefoxDriver('firefox-e2e');

describe('the extension in Firefox against the real server', () => {
  test(
    'admin enables 6 backup codes; a user generates, copies, downloads and spends one',
    () => adminAndUserScenario(driver),
    240_000,
  );
});
