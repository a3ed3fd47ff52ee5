/**
 * The real server serving the packed extension from EXTENSION_DIR, over HTTP, as a browser's updater
 * and installer ask for it: no session, the right types and cache headers, the update manifest
 * following the CRX in place (a newer one is offered without a restart), and refusals in the API's
 * error shape. A wrong EXTENSION_DIR stops the start with one line naming it.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCrx3, extensionIdOf, publicKeyDer } from '../../shared/crx';
import { freePort, type RunningServer, startServer } from '../support/server';
import { storedZip } from '../support/zip';

const XPI = storedZip({ 'manifest.json': JSON.stringify({ manifest_version: 3, version: '0.3.0' }) });

function crxOf(key: KeyObject, version: string): Buffer {
  return buildCrx3(storedZip({ 'manifest.json': JSON.stringify({ manifest_version: 3, version }) }), key);
}

/** Written beside and renamed into place, as the packer does. */
async function putInPlace(file: string, bytes: Buffer): Promise<void> {
  await writeFile(`${file}.tmp`, bytes);
  await rename(`${file}.tmp`, file);
}

async function startFailure(env: Record<string, string>): Promise<string> {
  return startServer({ env }).then(
    async (server) => {
      await server.stop();
      throw new Error('the server started');
    },
    (thrown: unknown) => String(thrown),
  );
}

let work: string;
const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const id = extensionIdOf(publicKeyDer(key));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sparekey-extension-dir-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('with EXTENSION_DIR naming a packed extension', () => {
  let server: RunningServer;
  let dir: string;
  let publicUrl: string;

  beforeAll(async () => {
    dir = join(work, 'package');
    await mkdir(dir);
    await writeFile(join(dir, 'sparekey.crx'), crxOf(key, '0.1.0'));
    await writeFile(join(dir, 'sparekey.xpi'), XPI);
    publicUrl = `http://127.0.0.1:${await freePort()}`;
    server = await startServer({
      env: { PORT: new URL(publicUrl).port, PUBLIC_URL: publicUrl, EXTENSION_DIR: dir },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('the update manifest names the CRX present: its id, its version, where to fetch it; kept briefly at most', async () => {
    const response = await fetch(`${server.url}/extension/chromium/updates.xml`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache, max-age=0');
    const xml = await response.text();
    expect(xml).toContain(`<app appid='${id}'>`);
    expect(xml).toContain(
      `<updatecheck codebase='${publicUrl}/extension/chromium/sparekey.crx' version='0.1.0' />`,
    );
  });

  test('the CRX and the .xpi are served with their types, to anyone, and revalidated by ETag', async () => {
    const crx = await fetch(`${server.url}/extension/chromium/sparekey.crx`);
    expect(crx.status).toBe(200);
    expect(crx.headers.get('content-type')).toBe('application/x-chrome-extension');
    expect(crx.headers.get('cache-control')).toBe('no-cache');
    expect(Buffer.from(await crx.arrayBuffer())).toEqual(crxOf(key, '0.1.0'));
    const etag = crx.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await fetch(`${server.url}/extension/chromium/sparekey.crx`, {
      headers: { 'if-none-match': etag ?? '' },
    });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');

    const xpi = await fetch(`${server.url}/extension/firefox/sparekey.xpi`);
    expect(xpi.status).toBe(200);
    expect(xpi.headers.get('content-type')).toBe('application/x-xpinstall');
    expect(xpi.headers.get('cache-control')).toBe('no-cache');
    expect(Buffer.from(await xpi.arrayBuffer())).toEqual(XPI);
  });

  test('a newer version put in place is what the next update check is offered, without a restart', async () => {
    const before = await fetch(`${server.url}/extension/chromium/sparekey.crx`);
    await putInPlace(join(dir, 'sparekey.crx'), crxOf(key, '0.2.0'));
    const xml = await (await fetch(`${server.url}/extension/chromium/updates.xml`)).text();
    expect(xml).toContain("version='0.2.0'");
    const after = await fetch(`${server.url}/extension/chromium/sparekey.crx`, {
      headers: { 'if-none-match': before.headers.get('etag') ?? '' },
    });
    expect(after.status).toBe(200);
    expect(Buffer.from(await after.arrayBuffer())).toEqual(crxOf(key, '0.2.0'));
  });

  test('a damaged or missing package is a 404 in the API shape, never a 500, and the operator is told', async () => {
    // Not a CRX; a CRX signed well but whose manifest has a version Chromium would refuse.
    for (const damaged of [Buffer.from('Cr24 not really a package'), crxOf(key, '1.0-beta')]) {
      await putInPlace(join(dir, 'sparekey.crx'), damaged);
      for (const path of ['/extension/chromium/updates.xml', '/extension/chromium/sparekey.crx']) {
        const response = await fetch(`${server.url}${path}`);
        expect(response.status).toBe(404);
        expect(await response.json()).toEqual({
          error: { code: 'not_found', message: 'This server serves no Chromium package.' },
        });
      }
    }
    expect(server.output()).toContain('extension package refused');

    await rm(join(dir, 'sparekey.xpi'));
    const xpi = await fetch(`${server.url}/extension/firefox/sparekey.xpi`);
    expect(xpi.status).toBe(404);
    expect(await xpi.json()).toEqual({
      error: { code: 'not_found', message: 'This server serves no Firefox package.' },
    });
    await putInPlace(join(dir, 'sparekey.crx'), crxOf(key, '0.2.0'));
    expect((await fetch(`${server.url}/extension/chromium/updates.xml`)).status).toBe(200);
  });

  test('the API keeps its no-store answers', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });
});

describe('without EXTENSION_DIR', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('nothing is served: each address is a 404 in the API shape', async () => {
    for (const path of [
      '/extension/chromium/updates.xml',
      '/extension/chromium/sparekey.crx',
      '/extension/firefox/sparekey.xpi',
    ]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status).toBe(404);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({
        error: { code: 'not_found', message: 'This server serves no extension package.' },
      });
    }
  });
});

describe('a wrong EXTENSION_DIR at start-up', () => {
  test('a folder that does not exist, a file, or a damaged CRX: the server exits with one line naming it', async () => {
    const missing = await startFailure({ EXTENSION_DIR: join(work, 'nowhere') });
    expect(missing).toMatch(/exited with 1 before listening/);
    expect(missing).toContain(`EXTENSION_DIR ${join(work, 'nowhere')} cannot be read (ENOENT)`);

    await writeFile(join(work, 'a-file'), 'x');
    expect(await startFailure({ EXTENSION_DIR: join(work, 'a-file') })).toContain(
      `EXTENSION_DIR ${join(work, 'a-file')} is not a directory.`,
    );

    const damaged = join(work, 'damaged');
    await mkdir(damaged);
    await writeFile(join(damaged, 'sparekey.crx'), crxOf(key, '0.1.0').subarray(0, 200));
    const output = await startFailure({ EXTENSION_DIR: damaged });
    expect(output).toContain(`EXTENSION_DIR ${damaged}: sparekey.crx is not a valid signed package`);
    expect(output).not.toMatch(/\n\s+at /);
  });
});
