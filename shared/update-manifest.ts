/**
 * The packed extension as its server describes it: Chromium's update manifest (the "gupdate" XML a
 * force-installed extension asks for at its manifest's update_url) and where each package is served.
 * The packer (extension/pack.ts) and the server (server/routes/extension.ts) both use it.
 */

export const CRX_FILE = 'sparekey.crx';
export const XPI_FILE = 'sparekey.xpi';
export const UPDATES_FILE = 'updates.xml';

export const EXTENSION_PATHS = {
  updates: `/extension/chromium/${UPDATES_FILE}`,
  crx: `/extension/chromium/${CRX_FILE}`,
  xpi: `/extension/firefox/${XPI_FILE}`,
} as const;

/** The absolute address of one served file under a server's public URL (an origin, no trailing slash). */
export function extensionUrl(
  publicUrl: string,
  path: (typeof EXTENSION_PATHS)[keyof typeof EXTENSION_PATHS],
): string {
  return `${publicUrl.replace(/\/+$/, '')}${path}`;
}

const ID = /^[a-p]{32}$/;
const VERSION = /^\d+(\.\d+){0,3}$/;

/** A version Chromium accepts in a manifest: one to four dot-separated whole numbers. */
export const isExtensionVersion = (version: string) => VERSION.test(version);

const xmlAttribute = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** The update manifest offering `version` of extension `appId`, downloadable at `codebase`. */
export function updateManifest(appId: string, version: string, codebase: string): string {
  if (!ID.test(appId)) throw new Error(`Not a Chromium extension id: ${appId}`);
  if (!isExtensionVersion(version)) throw new Error(`Not an extension version: ${version}`);
  return [
    "<?xml version='1.0' encoding='UTF-8'?>",
    "<gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>",
    `  <app appid='${appId}'>`,
    `    <updatecheck codebase='${xmlAttribute(codebase)}' version='${version}' />`,
    '  </app>',
    '</gupdate>',
    '',
  ].join('\n');
}
