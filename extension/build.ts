/**
 * Builds the extension from the one top-level manifest.json:
 *   npm run build                  -> dist/chromium, dist/firefox and a zip of each
 *   SPAREKEY_E2E=1 npm run build   -> dist/chromium-e2e only (test build, see below)
 *   SPAREKEY_E2E=1 SPAREKEY_E2E_NAME=chromium-e2e-x npm run build -> the test build in dist/chromium-e2e-x
 *   SPAREKEY_E2E=1 SPAREKEY_E2E_NAME=firefox-e2e-x npm run build  -> the SHIPPED Firefox build, unchanged
 *                                                                   but unzipped, in dist/firefox-e2e-x
 * Each bundle is one classic script (IIFE): content scripts and the Firefox background page cannot
 * load modules, and one format everywhere keeps the pages alike.
 * A target whose sources have not changed since its last build is left as it is; one that changed is
 * rebuilt in place (an admin may have loaded dist/chromium as an unpacked extension: the folder stays).
 */

import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import webExt from 'web-ext';
import { buildStamp, filesUnder, inputsHash, removeFilesNotIn } from '../scripts/build-outputs';
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

/** What a target is built from: a change to any of these rebuilds it. */
const INPUTS = [
  'extension',
  'shared',
  'manifest.json',
  'managed_schema.json',
  'scripts/build-outputs.ts',
  'package.json',
];

/**
 * Builds one target into `outRoot`/<name> (dist/ by default) unless its last build had the same
 * inputs; true when it built. `adjust` rewrites the manifest after manifestFor (the packer adds the
 * server's address): such a build depends on more than the inputs show, so it is never skipped.
 */
export async function buildTarget(
  source: Manifest,
  target: Target,
  { outRoot = DIST, adjust }: { outRoot?: string; adjust?: (manifest: Manifest) => Manifest } = {},
): Promise<boolean> {
  const out = join(outRoot, target.name);
  const zip = join(outRoot, `sparekey-${target.name}-${source.version}.zip`);
  const stamp = adjust
    ? null
    : await buildStamp(
        join(outRoot, `.${target.name}.sha256`),
        await inputsHash(ROOT, INPUTS, target),
        target.zip ? [out, zip] : [out],
      );
  if (stamp?.fresh) return false;
  await mkdir(join(out, 'icons'), { recursive: true });

  const result = await esbuild.build({
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
    metafile: true,
    define: {
      __SPAREKEY_BROWSER__: JSON.stringify(target.browser),
      __SPAREKEY_CLIPBOARD_CLEAR_MS__: String(target.clipboardClearMs),
      'process.env.NODE_ENV': '"production"',
    },
  });
  // Every file this build writes; whatever else is in the folder (from an older build) goes at the end.
  const written = new Set(Object.keys(result.metafile.outputs).map((output) => resolve(ROOT, output)));
  const copy = async (from: string, to: string) => {
    await cp(from, to, { recursive: true });
    for (const file of await filesUnder(from)) written.add(join(to, relative(from, file)));
  };

  const pages = ['popup.html', 'options.html', 'print.html', 'styles.css'];
  if (target.browser === 'chromium') pages.push('offscreen.html');
  for (const page of pages) await copy(join(ROOT, 'extension', 'static', page), join(out, page));
  await copy(join(ROOT, 'extension', '_locales'), join(out, '_locales'));
  if (target.browser === 'chromium')
    await copy(join(ROOT, 'managed_schema.json'), join(out, 'managed_schema.json'));
  for (const size of ICON_SIZES) {
    const icon = join(out, 'icons', `icon-${size}.png`);
    await writeFile(icon, iconPng(size));
    written.add(icon);
  }

  const manifest = (adjust ?? ((built: Manifest) => built))(manifestFor(source, target));
  await writeFile(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  written.add(join(out, 'manifest.json'));
  await removeFilesNotIn(out, written);

  if (target.zip) {
    await webExt.cmd.build(
      { sourceDir: out, artifactsDir: outRoot, filename: relative(outRoot, zip), overwriteDest: true },
      { showReadyMessage: false },
    );
  }
  await stamp?.save();
  return true;
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
    const built = await buildTarget(source, target);
    const out = join(DIST, target.name);
    console.log(
      built
        ? `built ${target.name} -> ${out}${target.zip ? ' (+ zip)' : ''}`
        : `${target.name} up to date -> ${out}`,
    );
  }
}

// Run as a script (npm run build); the packer imports buildTarget without building everything.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
