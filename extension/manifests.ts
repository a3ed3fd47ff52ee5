/** The build targets, and how each browser's manifest is written from the one top-level manifest.json. */

export type Browser = 'chromium' | 'firefox';

export interface Target {
  name: string;
  browser: Browser;
  clipboardClearMs: number;
  /**
   * Test-only: grant the loopback server in the manifest, because Playwright cannot click the
   * permission prompt. Shipped builds keep host access optional and ask for the configured server.
   */
  grantLoopback: boolean;
  zip: boolean;
}

export const SHIPPED: Target[] = [
  { name: 'chromium', browser: 'chromium', clipboardClearMs: 30_000, grantLoopback: false, zip: true },
  { name: 'firefox', browser: 'firefox', clipboardClearMs: 30_000, grantLoopback: false, zip: true },
];

/** The e2e test watches the clipboard being cleared; 30 s would make it slow, not more truthful. */
export const E2E: Target = {
  name: 'chromium-e2e',
  browser: 'chromium',
  clipboardClearMs: 2_000,
  grantLoopback: true,
  zip: false,
};

export type Manifest = Record<string, unknown> & { permissions: string[]; version: string };

export function manifestFor(source: Manifest, target: Target): Manifest {
  const manifest: Manifest = structuredClone(source);
  if (target.browser === 'firefox') {
    // Firefox MV3 runs an event page; offscreen documents and the managed_schema key are Chromium-only
    // (Firefox reads managed storage from policies.json instead).
    manifest.background = { scripts: ['background.js'] };
    manifest.permissions = manifest.permissions.filter((p) => p !== 'offscreen');
    delete manifest.storage;
    delete manifest.minimum_chrome_version;
  } else {
    manifest.background = { service_worker: 'background.js' };
    delete manifest.browser_specific_settings;
  }
  if (target.grantLoopback) manifest.host_permissions = ['http://127.0.0.1/*'];
  return manifest;
}
