/**
 * The extension packed for this organisation (extension/pack.ts), served from EXTENSION_DIR for
 * browsers that install it by policy: Chromium's update manifest and CRX, Firefox's .xpi. No session:
 * the browser's updater and installer ask for them with no one signed in, and they hold no secret.
 * The update manifest is written here from the CRX present, so a newer package put in place is what
 * the next update check is told about, at this server's own address.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Context, Hono } from 'hono';
import { type ChromiumPackage, describeCrx } from '../../shared/crx';
import {
  CRX_FILE,
  EXTENSION_PATHS,
  extensionUrl,
  updateManifest,
  XPI_FILE,
} from '../../shared/update-manifest';
import type { Deps } from '../deps';
import type { AppEnv } from '../http/context';
import { ApiError } from '../http/errors';
import type { Logger } from '../log';

/** The update manifest is small and must change as soon as a new version is in place. */
const UPDATES_CACHE = 'no-cache, max-age=0';
/** Packages may be kept, but checked against their ETag before each use: a new one has the same name. */
const PACKAGE_CACHE = 'no-cache';

const notServed = (what: string) => new ApiError(404, 'not_found', `This server serves no ${what}.`);

interface LoadedFile {
  key: string;
  bytes: Buffer;
  etag: string;
}

/**
 * Reads one file of the package folder, again only when it changed (size, time or inode): every
 * installed browser asks for the update manifest every few hours.
 */
function packageFiles(dir: string) {
  const loaded = new Map<string, LoadedFile>();
  return async (name: string): Promise<LoadedFile | null> => {
    const file = join(dir, name);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return null;
    const key = `${info.size}:${info.mtimeMs}:${info.ino}`;
    const cached = loaded.get(name);
    if (cached?.key === key) return cached;
    const bytes = await readFile(file).catch(() => null);
    if (!bytes) return null;
    const etag = `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"`;
    const fresh = { key, bytes, etag };
    loaded.set(name, fresh);
    return fresh;
  };
}

function sendPackage(c: Context<AppEnv>, file: LoadedFile, contentType: string) {
  c.header('Cache-Control', PACKAGE_CACHE);
  c.header('ETag', file.etag);
  const match = c.req.header('if-none-match');
  if (match?.split(',').some((tag) => tag.trim() === file.etag)) return c.body(null, 304);
  c.header('Content-Type', contentType);
  return c.body(new Uint8Array(file.bytes), 200);
}

export function extensionRoutes(deps: Deps, log: Logger) {
  const app = new Hono<AppEnv>();
  const dir = deps.extensionDir;
  if (!dir) {
    app.get('/extension/*', () => {
      throw notServed('extension package');
    });
    return app;
  }
  const read = packageFiles(dir);
  const described = new WeakMap<Buffer, ChromiumPackage | null>();

  /** The CRX present and what it says, or null (missing, or not a package Chromium would install). */
  const chromium = async () => {
    const file = await read(CRX_FILE);
    if (!file) return null;
    if (!described.has(file.bytes)) {
      try {
        described.set(file.bytes, describeCrx(file.bytes));
      } catch (error) {
        log.error('extension package refused', { file: join(dir, CRX_FILE), error: String(error) });
        described.set(file.bytes, null);
      }
    }
    const found = described.get(file.bytes);
    return found ? { file, ...found } : null;
  };

  app.get(EXTENSION_PATHS.updates, async (c) => {
    const crx = await chromium();
    if (!crx) throw notServed('Chromium package');
    c.header('Cache-Control', UPDATES_CACHE);
    c.header('Content-Type', 'application/xml; charset=utf-8');
    return c.body(
      updateManifest(
        crx.extensionId,
        crx.version,
        extensionUrl(deps.security.publicUrl, EXTENSION_PATHS.crx),
      ),
    );
  });
  app.get(EXTENSION_PATHS.crx, async (c) => {
    const crx = await chromium();
    if (!crx) throw notServed('Chromium package');
    return sendPackage(c, crx.file, 'application/x-chrome-extension');
  });
  app.get(EXTENSION_PATHS.xpi, async (c) => {
    const xpi = await read(XPI_FILE);
    if (!xpi) throw notServed('Firefox package');
    return sendPackage(c, xpi, 'application/x-xpinstall');
  });
  return app;
}
