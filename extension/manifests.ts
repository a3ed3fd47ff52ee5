/** The build targets, and how each browser's manifest is written from the one top-level manifest.json. */
import { hostPattern } from '../shared/server-address';
import { EXTENSION_PATHS, extensionUrl } from '../shared/update-manifest';

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

/**
 * A manifest packed for one organisation's server (extension/pack.ts). Chromium gets `update_url`: a
 * force-installed extension checks for updates there, not at the policy's address. Both get the
 * server's host permission, the one `requestHostPermission` would ask for: a force-installed
 * extension can show no prompt, so it must hold it from the install.
 */
export function packedManifest(manifest: Manifest, browser: Browser, serverUrl: string): Manifest {
  const packed: Manifest = structuredClone(manifest);
  if (browser === 'chromium') packed.update_url = extensionUrl(serverUrl, EXTENSION_PATHS.updates);
  packed.host_permissions = [hostPattern(serverUrl)];
  return packed;
}
