/**
 * Values esbuild writes in at build time (extension/build.ts `define`). The `typeof` guards let the
 * same modules run unbundled in the component tests, where the defaults apply.
 */
declare const __SPAREKEY_BROWSER__: 'chromium' | 'firefox';
declare const __SPAREKEY_CLIPBOARD_CLEAR_MS__: number;

export const BROWSER: 'chromium' | 'firefox' =
  typeof __SPAREKEY_BROWSER__ === 'string' ? __SPAREKEY_BROWSER__ : 'chromium';

/** How long copied codes may stay on the clipboard; the end-to-end build shortens it. */
export const CLIPBOARD_CLEAR_MS: number =
  typeof __SPAREKEY_CLIPBOARD_CLEAR_MS__ === 'number' ? __SPAREKEY_CLIPBOARD_CLEAR_MS__ : 30_000;
