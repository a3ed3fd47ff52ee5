/**
 * Builds the extension from the one top-level manifest.json:
 *   npm run build                  -> dist/chromium, dist/firefox and a zip of each
 *   SPAREKEY_E2E=1 npm run build   -> dist/chromium-e2e only (test build, see below)
 *   SPAREKEY_E2E=1 SPAREKEY_E2E_NAME=chromium-e2e-x npm run build -> the test build in dist/chromium-e2e-x
 *   SPAREKEY_E2E=1 SPAREKEY_E2E_NAME=firefox-e2e-x npm run build  -> the SHIPPED Firefox build, unchanged
 *                                                                   but unzipped, in dist/firefox-e2e-x
 * Each bundle is one classic script (IIFE): content scripts and the Firefox background page cannot
 * load modules, and one format everywhere keeps the pages alike.
 */

import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import webExt from 'web-ext';
import { ICON_SIZES, iconPng } from './icons';
import { E2E, type Manifest, manifestFor, SHIPPED, type Target } from './manifests';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'extension', 'src');
const DIST = join(ROOT, 'dist');

function entryPoints(target: Target): Record<string, string> {
  const entries: Record<string, string> = {
    popup: join(SRC, 'popup', 'index.tsx'),
    options: join(SRC, 'options', 'index.tsx'),
    print: join(SRC, 'print', 'index.tsx'),
    background: join(SRC, 'background', 'index.ts'),
  };
  if (target.browser === 'chromium') entries.offscreen = join(SRC, 'offscreen', 'index.ts');
  const content = join(SRC, 'content', 'index.ts');
  if (existsSync(content)) entries.content = content;
  return entries;
}

/**
 * Builds one target into `outRoot`/<target name> (dist/ by default), its manifest written from
 * `source` by manifestFor and then by `adjust` when given (the packer adds the server's address).
 */
export async function buildTarget(
  source: Manifest,
  target: Target,
  { outRoot = DIST, adjust }: { outRoot?: string; adjust?: (manifest: Manifest) => Manifest } = {},
): Promise<string> {
  const out = join(outRoot, target.name);
  await rm(out, { recursive: true, force: true });
  await mkdir(join(out, 'icons'), { recursive: true });

  await esbuild.build({
    entryPoints: entryPoints(target),
    outdir: out,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120', 'firefox140'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    charset: 'utf8',
    // Readable output: store reviewers read the bundle, and there is no remote or generated code to hide.
    minify: false,
    legalComments: 'eof',
    logLevel: 'warning',
    define: {
      __SPAREKEY_BROWSER__: JSON.stringify(target.browser),
      __SPAREKEY_CLIPBOARD_CLEAR_MS__: String(target.clipboardClearMs),
      'process.env.NODE_ENV': '"production"',
    },
  });

  const pages = ['popup.html', 'options.html', 'print.html', 'styles.css'];
  if (target.browser === 'chromium') pages.push('offscreen.html');
  for (const page of pages) await cp(join(ROOT, 'extension', 'static', page), join(out, page));
  await cp(join(ROOT, 'extension', '_locales'), join(out, '_locales'), { recursive: true });
  if (target.browser === 'chromium')
    await cp(join(ROOT, 'managed_schema.json'), join(out, 'managed_schema.json'));
  for (const size of ICON_SIZES) await writeFile(join(out, 'icons', `icon-${size}.png`), iconPng(size));

  const manifest = (adjust ?? ((built: Manifest) => built))(manifestFor(source, target));
  await writeFile(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  if (target.zip) {
    await webExt.cmd.build(
      {
        sourceDir: out,
        artifactsDir: outRoot,
        filename: `sparekey-${target.name}-${manifest.version}.zip`,
        overwriteDest: true,
      },
      { showReadyMessage: false },
    );
  }
  return out;
}

/**
 * The build an e2e file drives, in its own folder when asked: e2e files run in parallel and must not
 * rebuild under each other. Chromium gets the test build; Firefox gets the shipped one (its tests
 * grant the host permission through the optional-permission request, as a user does).
 */
function e2eTarget(): Target {
  const name = process.env.SPAREKEY_E2E_NAME;
  if (!name) return E2E;
  if (/^chromium-e2e(-[a-z0-9]+)*$/.test(name)) return { ...E2E, name };
  const firefox = SHIPPED.find((target) => target.browser === 'firefox');
  if (firefox && /^firefox-e2e(-[a-z0-9]+)*$/.test(name)) return { ...firefox, name, zip: false };
  throw new Error(`SPAREKEY_E2E_NAME: bad name ${name}`);
}

/** The one top-level manifest.json every build is written from. */
export async function sourceManifest(): Promise<Manifest> {
  return JSON.parse(await readFile(join(ROOT, 'manifest.json'), 'utf8')) as Manifest;
}

async function main(): Promise<void> {
  const source = await sourceManifest();
  const targets = process.env.SPAREKEY_E2E === '1' ? [e2eTarget()] : SHIPPED;
  for (const target of targets) {
    const out = await buildTarget(source, target);
    console.log(`built ${target.name} -> ${out}${target.zip ? ' (+ zip)' : ''}`);
  }
}

// Run as a script (npm run build); the packer imports buildTarget without building everything.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
