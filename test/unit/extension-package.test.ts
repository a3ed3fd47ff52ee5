/**
 * The packed extension's formats, checked against Chromium itself: a CRX made by
 * `chromium --pack-extension` with the same throwaway key has the same id and the same header fields
 * as ours, and both read back through the same parser the server uses.
 */
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  buildCrx3,
  CrxFormatError,
  describeCrx,
  extensionIdOf,
  parseCrx3,
  publicKeyDer,
} from '../../shared/crx';
import { updateManifest } from '../../shared/update-manifest';
import { readZipEntry } from '../../shared/zip-entry';
import { assertChromium, CHROMIUM_PATH } from '../support/chromium';

let work: string;
let key: KeyObject;
let chromiumCrx: Buffer;

beforeAll(async () => {
  assertChromium();
  work = await mkdtemp(join(tmpdir(), 'sparekey-crx-'));
  key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  await writeFile(join(work, 'key.pem'), key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await mkdir(join(work, 'ext'));
  await writeFile(
    join(work, 'ext', 'manifest.json'),
    JSON.stringify({ manifest_version: 3, name: 'crx test', version: '1.2.3' }),
  );
  const packed = spawnSync(
    CHROMIUM_PATH,
    [
      '--headless',
      '--no-sandbox',
      '--no-message-box',
      `--user-data-dir=${join(work, 'profile')}`,
      `--pack-extension=${join(work, 'ext')}`,
      `--pack-extension-key=${join(work, 'key.pem')}`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  chromiumCrx = await readFile(join(work, 'ext.crx')).catch(() => {
    throw new Error(`chromium --pack-extension wrote no CRX:\n${packed.stdout}\n${packed.stderr}`);
  });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Chromium's id written out independently: SHA-256 of the DER SubjectPublicKeyInfo, 32 hex digits, 0-f as a-p. */
const chromiumStyleId = (spki: Buffer) =>
  createHash('sha256')
    .update(spki)
    .digest('hex')
    .slice(0, 32)
    .replace(/[0-9a-f]/g, (digit) => 'abcdefghijklmnop'[Number.parseInt(digit, 16)] as string);

describe('the extension id', () => {
  test('is the id Chromium signs into its own CRX for the same key', () => {
    const id = extensionIdOf(publicKeyDer(key));
    expect(id).toMatch(/^[a-p]{32}$/);
    expect(id).toBe(chromiumStyleId(publicKeyDer(key)));
    expect(parseCrx3(chromiumCrx).extensionId).toBe(id);
  });

  test('differs for another key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(extensionIdOf(publicKeyDer(other))).not.toBe(extensionIdOf(publicKeyDer(key)));
  });
});

describe('CRX3', () => {
  test("ours has Chromium's header: the same key proof and signed id, and a signature that verifies", () => {
    const archive = parseCrx3(chromiumCrx).archive;
    const ours = buildCrx3(archive, key);
    expect(ours.subarray(0, 4).toString('latin1')).toBe('Cr24');
    expect(ours.readUInt32LE(4)).toBe(3);
    const parsedOurs = parseCrx3(ours);
    const parsedChromium = parseCrx3(chromiumCrx);
    expect(parsedOurs.extensionId).toBe(parsedChromium.extensionId);
    expect(parsedOurs.rsaProofs.map((proof) => proof.publicKey)).toEqual(
      parsedChromium.rsaProofs.map((proof) => proof.publicKey),
    );
    // RSASSA-PKCS1-v1_5 is deterministic: the same key over the same bytes signs the same.
    expect(parsedOurs.rsaProofs[0]?.signature).toEqual(parsedChromium.rsaProofs[0]?.signature);
    expect(parsedOurs.archive).toEqual(archive);
  });

  test("the server reads the id and version of Chromium's CRX and of ours alike", () => {
    const expected = { extensionId: extensionIdOf(publicKeyDer(key)), version: '1.2.3' };
    expect(describeCrx(chromiumCrx)).toEqual(expected);
    expect(describeCrx(buildCrx3(parseCrx3(chromiumCrx).archive, key))).toEqual(expected);
  });

  test('a changed archive, a foreign signature or a file that is no CRX is refused', () => {
    const ours = buildCrx3(parseCrx3(chromiumCrx).archive, key);
    const tampered = Buffer.from(ours);
    tampered[tampered.length - 30] = (tampered[tampered.length - 30] as number) ^ 0xff;
    expect(() => parseCrx3(tampered)).toThrow('The CRX signature does not verify.');

    // The header of one package in front of another archive: the signature covers the archive.
    const swapped = Buffer.concat([ours.subarray(0, 12 + ours.readUInt32LE(8)), Buffer.from('PK')]);
    expect(() => parseCrx3(swapped)).toThrow(CrxFormatError);

    expect(() => parseCrx3(Buffer.from('PK\x03\x04 a zip, not a crx'))).toThrow('Not a CRX file.');
    expect(() =>
      parseCrx3(Buffer.concat([Buffer.from('Cr24'), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0])])),
    ).toThrow('Not a CRX3 file.');
    const cut = Buffer.from(ours.subarray(0, 40));
    expect(() => parseCrx3(cut)).toThrow('cut short');
  });

  test('a key that is not RSA is refused', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(() => buildCrx3(Buffer.from('zip'), ec)).toThrow('The key must be an RSA private key.');
  });
});

describe('the update manifest', () => {
  const id = 'abcdefghijklmnopabcdefghijklmnop';

  test('names the extension, its version and where the CRX is, as Chromium reads it', () => {
    const xml = updateManifest(id, '0.2.0', 'https://sparekey.example/extension/chromium/sparekey.crx');
    expect(xml).toBe(
      [
        "<?xml version='1.0' encoding='UTF-8'?>",
        "<gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>",
        `  <app appid='${id}'>`,
        "    <updatecheck codebase='https://sparekey.example/extension/chromium/sparekey.crx' version='0.2.0' />",
        '  </app>',
        '</gupdate>',
        '',
      ].join('\n'),
    );
  });

  test('escapes the address and refuses an id or a version Chromium would not accept', () => {
    expect(updateManifest(id, '1.0', "https://x.example/a'b&c")).toContain(
      "codebase='https://x.example/a&apos;b&amp;c'",
    );
    expect(() => updateManifest('ABC', '1.0', 'https://x.example')).toThrow('Not a Chromium extension id');
    expect(() => updateManifest(id, '1.0.0.0.0', 'https://x.example')).toThrow('Not an extension version');
    expect(() => updateManifest(id, "1' onload='", 'https://x.example')).toThrow('Not an extension version');
  });
});

describe('reading a ZIP entry', () => {
  test("finds the manifest in Chromium's archive, and null for a file it does not hold", () => {
    const archive = parseCrx3(chromiumCrx).archive;
    expect(JSON.parse(readZipEntry(archive, 'manifest.json')?.toString('utf8') ?? '')).toMatchObject({
      version: '1.2.3',
    });
    expect(readZipEntry(archive, 'missing.json')).toBeNull();
    expect(() => readZipEntry(Buffer.from('not a zip at all, no end record here'), 'manifest.json')).toThrow(
      'Not a ZIP archive.',
    );
  });
});
