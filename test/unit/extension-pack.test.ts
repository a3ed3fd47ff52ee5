/**
 * `npm run extension:pack` as an admin runs it: what it writes, what it prints, the key it makes once,
 * and the one-line refusals that leave nothing behind.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { describeCrx, extensionIdOf, parseCrx3, publicKeyDer } from '../../shared/crx';
import { readZipEntry } from '../../shared/zip-entry';

const ROOT = resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(await readFile(join(ROOT, 'manifest.json'), 'utf8')) as { version: string })
  .version;

/**
 * The packer as `npx sparekey extension pack …` runs it in a checkout (`npm run extension:pack` is the
 * same entry point), from `cwd` (where a new key is written).
 */
function pack(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const tsx = join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');
  const sparekey = join(ROOT, 'server', 'sparekey.ts');
  const result = spawnSync(process.execPath, ['--import', tsx, sparekey, 'extension', 'pack', ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, PUBLIC_URL: '', ...options.env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const manifestIn = (zip: Buffer) =>
  JSON.parse(readZipEntry(zip, 'manifest.json')?.toString('utf8') ?? 'null') as Record<string, unknown> & {
    browser_specific_settings?: { gecko?: { id?: string } };
  };

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sparekey-pack-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('packing with the organisation key', () => {
  test('writes the CRX, the update manifest and the .xpi for the server, and prints the id of the key', async () => {
    const keyFile = join(work, 'org-key.pem');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const id = extensionIdOf(publicKeyDer(privateKey));
    const out = join(work, 'out');

    const packed = pack(['--key', keyFile, '--out', out], {
      env: { PUBLIC_URL: 'https://sparekey.example' },
    });
    expect(packed.stderr).toBe('');
    expect(packed.status).toBe(0);
    expect(packed.stdout).toContain(`Extension id: ${id}\n`);
    expect(packed.stdout).not.toContain('New signing key');

    const crx = await readFile(join(out, 'sparekey.crx'));
    expect(describeCrx(crx)).toEqual({ extensionId: id, version: VERSION });
    const chromium = manifestIn(parseCrx3(crx).archive);
    expect(chromium.update_url).toBe('https://sparekey.example/extension/chromium/updates.xml');
    expect(chromium.host_permissions).toEqual(['https://sparekey.example/*']);
    expect(chromium.background).toEqual({ service_worker: 'background.js' });

    expect(await readFile(join(out, 'updates.xml'), 'utf8')).toContain(
      `<app appid='${id}'>\n    <updatecheck codebase='https://sparekey.example/extension/chromium/sparekey.crx' version='${VERSION}' />`,
    );

    const firefox = manifestIn(await readFile(join(out, 'sparekey.xpi')));
    expect(firefox.browser_specific_settings?.gecko?.id).toBe('sparekey@sparekey.dev');
    expect(firefox.host_permissions).toEqual(['https://sparekey.example/*']);
    expect(firefox.update_url).toBeUndefined();
    expect(readZipEntry(await readFile(join(out, 'sparekey.xpi')), 'background.js')).not.toBeNull();
  }, 180_000);
});

describe('packing without a key', () => {
  test('generates the key once, readable by its owner only, and tells the admin to keep it', async () => {
    const cwd = await mkdtemp(join(work, 'admin-'));
    const packed = pack(['--out', 'out', '--public-url', 'https://sparekey.example'], { cwd });
    expect(packed.status).toBe(0);
    const keyFile = join(cwd, 'sparekey-extension-key.pem');
    expect(packed.stdout).toContain(`New signing key written to ${keyFile} (mode 0600). Keep it safe`);
    expect(packed.stdout).toContain(`--key ${keyFile}`);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const key = createPrivateKey(await readFile(keyFile));
    const id = extensionIdOf(publicKeyDer(key));
    expect(packed.stdout).toContain(`Extension id: ${id}\n`);
    expect(describeCrx(await readFile(join(cwd, 'out', 'sparekey.crx'))).extensionId).toBe(id);

    // Run again the same way: the key is not replaced (that would change the id of every install).
    const keyBefore = await readFile(keyFile);
    const again = pack(['--out', 'out2', '--public-url', 'https://sparekey.example'], { cwd });
    expect(again.status).toBe(1);
    expect(again.stderr).toBe(
      `${keyFile} already exists: pack with --key ${keyFile} to keep the extension's id (or --new-key OTHER-FILE).\n`,
    );
    expect(await readFile(keyFile)).toEqual(keyBefore);
    expect(existsSync(join(cwd, 'out2'))).toBe(false);
  }, 180_000);
});

describe('refusals: one line, exit 1 or 2, nothing written', () => {
  test.each([
    [['--out', 'o'], 'Give the SpareKey server address: --public-url https://… (or set PUBLIC_URL).'],
    [
      ['--out', 'o', '--public-url', 'http://sparekey.example'],
      '--public-url http://sparekey.example: plain http:// is refused off the loopback; use https://.',
    ],
    [
      ['--out', 'o', '--public-url', 'https://sparekey.example/codes'],
      '--public-url https://sparekey.example/codes: SpareKey is served at the root of its origin; give the origin alone.',
    ],
    [
      ['--out', 'o', '--public-url', 'ftp://sparekey.example'],
      '--public-url ftp://sparekey.example: not an http(s) address such as https://sparekey.example.',
    ],
    [['--public-url', 'https://sparekey.example'], '--out DIR is required.'],
  ])('%j', async (args, line) => {
    const cwd = await mkdtemp(join(work, 'refused-'));
    const refused = pack(args, { cwd });
    expect(refused.status).toBe(1);
    expect(refused.stderr.split('\n')[0]).toBe(line);
    expect(existsSync(join(cwd, 'o'))).toBe(false);
    expect(existsSync(join(cwd, 'sparekey-extension-key.pem'))).toBe(false);
  });

  test('a key that cannot be read, is no key, or is not RSA', async () => {
    const cwd = await mkdtemp(join(work, 'keys-'));
    const args = (key: string) => ['--key', key, '--out', 'o', '--public-url', 'https://sparekey.example'];
    expect(pack(args(join(cwd, 'missing.pem')), { cwd }).stderr).toBe(
      `--key ${join(cwd, 'missing.pem')}: cannot read it (ENOENT).\n`,
    );
    await writeFile(join(cwd, 'text.pem'), 'not a key');
    expect(pack(args(join(cwd, 'text.pem')), { cwd }).stderr).toBe(
      `--key ${join(cwd, 'text.pem')}: not a PEM private key.\n`,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeFile(join(cwd, 'ec.pem'), ec.export({ type: 'pkcs8', format: 'pem' }));
    const refused = pack(args(join(cwd, 'ec.pem')), { cwd });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(
      `--key ${join(cwd, 'ec.pem')}: an ec key; Chromium packages need an RSA key.\n`,
    );
    expect(existsSync(join(cwd, 'o'))).toBe(false);
  });

  test('an unknown option prints the usage and exits 2', () => {
    const refused = pack(['--outdir', 'o']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('Usage: sparekey extension pack --out DIR');
  });
});
