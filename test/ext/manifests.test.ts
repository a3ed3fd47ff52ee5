import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { E2E, type Manifest, manifestFor, SHIPPED } from '../../extension/manifests';
import { FILL_COMMAND } from '../../extension/src/autofill/messages';

const ROOT = resolve(import.meta.dirname, '../..');
const source = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8')) as Manifest;
const [chromiumTarget, firefoxTarget] = SHIPPED;
if (!chromiumTarget || !firefoxTarget) throw new Error('two shipped targets expected');
const chromium = manifestFor(source, chromiumTarget);
const firefox = manifestFor(source, firefoxTarget);

describe('manifests written from the one manifest.json', () => {
  test('Chromium: a service worker, offscreen for the clipboard, managed storage schema, no Gecko settings', () => {
    expect(chromium.background).toEqual({ service_worker: 'background.js' });
    expect(chromium.permissions).toContain('offscreen');
    expect(chromium.storage).toEqual({ managed_schema: 'managed_schema.json' });
    expect(chromium.browser_specific_settings).toBeUndefined();
  });

  test('Firefox: background scripts, the Gecko id and data collection, no offscreen', () => {
    expect(firefox.background).toEqual({ scripts: ['background.js'] });
    expect(firefox.permissions).not.toContain('offscreen');
    expect(firefox.minimum_chrome_version).toBeUndefined();
    expect(firefox.browser_specific_settings).toMatchObject({
      gecko: { id: expect.stringContaining('@'), data_collection_permissions: { required: ['none'] } },
    });
  });

  test('shipped builds hold no host access until the user grants their server; never <all_urls>', () => {
    for (const manifest of [chromium, firefox]) {
      expect(manifest.host_permissions).toBeUndefined();
      expect(JSON.stringify(manifest)).not.toContain('<all_urls>');
      expect(manifest.optional_host_permissions).toEqual(['https://*/*', 'http://*/*']);
    }
  });

  test('the test build alone grants the loopback server, and nothing wider', () => {
    const e2e = manifestFor(source, E2E);
    expect(e2e.host_permissions).toEqual(['http://127.0.0.1/*']);
    expect(E2E.zip).toBe(false);
    expect(E2E.clipboardClearMs).toBeLessThan(30_000);
    expect(SHIPPED.every((target) => target.clipboardClearMs === 30_000 && !target.grantLoopback)).toBe(true);
  });

  test('the permissions are the ones the features need, and no more', () => {
    expect([...chromium.permissions].sort()).toEqual(
      [
        'alarms',
        'clipboardRead',
        'clipboardWrite',
        'notifications',
        'offscreen',
        'scripting',
        'storage',
      ].sort(),
    );
    // scripting registers the autofill content script at run time, for the granted server only.
    expect(firefox.permissions).toContain('scripting');
    expect(chromium.content_scripts).toBeUndefined();
  });

  test('the fill shortcut is a command both browsers read, with a translated description', () => {
    for (const manifest of [chromium, firefox]) {
      expect(manifest.commands).toEqual({
        [FILL_COMMAND]: {
          suggested_key: { default: 'Alt+Shift+B' },
          description: '__MSG_commandFillBackupCode__',
        },
      });
    }
  });
});
