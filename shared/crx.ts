/**
 * Chromium's extension package (CRX3) and its id, written and read with node:crypto alone. The format
 * is Chromium's components/crx_file/crx3.proto:
 *
 *   "Cr24" | uint32 LE 3 | uint32 LE header size | CrxFileHeader | ZIP archive
 *
 *   CrxFileHeader { repeated AsymmetricKeyProof sha256_with_rsa = 2; bytes signed_header_data = 10000; }
 *   AsymmetricKeyProof { bytes public_key = 1; bytes signature = 2; }   (public_key: DER SubjectPublicKeyInfo)
 *   SignedData { bytes crx_id = 1; }                                    (the first 16 bytes of SHA-256(public_key))
 *
 * The signature (RSASSA-PKCS1-v1_5, SHA-256) covers "CRX3 SignedData\0", the signed header data's
 * length (uint32 LE), the signed header data, then the archive.
 */
import { createHash, createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto';
import { isExtensionVersion } from './update-manifest';
import { readZipEntry } from './zip-entry';

const MAGIC = Buffer.from('Cr24', 'latin1');
const VERSION = 3;
const SIGNATURE_CONTEXT = Buffer.from('CRX3 SignedData\x00', 'latin1');

const FIELD_RSA_PROOF = 2;
const FIELD_SIGNED_HEADER_DATA = 10_000;
const FIELD_PUBLIC_KEY = 1;
const FIELD_SIGNATURE = 2;
const FIELD_CRX_ID = 1;
const WIRE_LENGTH_DELIMITED = 2;

export class CrxFormatError extends Error {}

/** The DER SubjectPublicKeyInfo of a key (private or public): what Chromium hashes for the id. */
export function publicKeyDer(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

function crxIdBytes(spki: Buffer): Buffer {
  return createHash('sha256').update(spki).digest().subarray(0, 16);
}

/** Chromium's id: the first 32 hex digits of SHA-256(SPKI), each digit 0–f written as a–p. */
export function extensionIdOf(spki: Buffer): string {
  return [...crxIdBytes(spki).toString('hex')]
    .map((digit) => String.fromCharCode(97 + Number.parseInt(digit, 16)))
    .join('');
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** One length-delimited protobuf field: the only wire type these messages use. */
function bytesField(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint(field * 8 + WIRE_LENGTH_DELIMITED), varint(value.length), value]);
}

function uint32le(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

function signedBytes(signedHeaderData: Buffer, archive: Buffer): Buffer[] {
  return [SIGNATURE_CONTEXT, uint32le(signedHeaderData.length), signedHeaderData, archive];
}

/** A CRX3 package of `archive` (a ZIP of the extension), signed with the RSA `privateKey`. */
export function buildCrx3(archive: Buffer, privateKey: KeyObject): Buffer {
  if (privateKey.asymmetricKeyType !== 'rsa') throw new CrxFormatError('The key must be an RSA private key.');
  const spki = publicKeyDer(privateKey);
  const signedHeaderData = bytesField(FIELD_CRX_ID, crxIdBytes(spki));
  const signer = createSign('sha256');
  for (const part of signedBytes(signedHeaderData, archive)) signer.update(part);
  const signature = signer.sign(privateKey);
  const header = Buffer.concat([
    bytesField(
      FIELD_RSA_PROOF,
      Buffer.concat([bytesField(FIELD_PUBLIC_KEY, spki), bytesField(FIELD_SIGNATURE, signature)]),
    ),
    bytesField(FIELD_SIGNED_HEADER_DATA, signedHeaderData),
  ]);
  return Buffer.concat([MAGIC, uint32le(VERSION), uint32le(header.length), header, archive]);
}

/** The length-delimited fields of one message, in order (other wire types are skipped). */
function fields(message: Buffer): { field: number; value: Buffer }[] {
  const found: { field: number; value: Buffer }[] = [];
  let at = 0;
  const readVarint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= message.length) throw new CrxFormatError('The CRX header is cut short.');
      const byte = message[at++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  };
  while (at < message.length) {
    const tag = readVarint();
    const wire = tag % 8;
    const field = Math.floor(tag / 8);
    if (wire === 0) readVarint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === WIRE_LENGTH_DELIMITED) {
      const length = readVarint();
      if (at + length > message.length) throw new CrxFormatError('The CRX header is cut short.');
      found.push({ field, value: message.subarray(at, at + length) });
      at += length;
    } else throw new CrxFormatError(`The CRX header has an unknown wire type ${wire}.`);
  }
  return found;
}

export interface CrxProof {
  publicKey: Buffer;
  signature: Buffer;
}

export interface ParsedCrx {
  /** The id its signed header names (a–p form). */
  extensionId: string;
  rsaProofs: CrxProof[];
  archive: Buffer;
}

/**
 * Reads a CRX3 and checks what Chromium checks before installing it: the signed header names the id
 * of one of the RSA keys, and that key's signature over the header data and archive verifies.
 */
export function parseCrx3(crx: Buffer): ParsedCrx {
  if (crx.length < 12 || !crx.subarray(0, 4).equals(MAGIC)) throw new CrxFormatError('Not a CRX file.');
  if (crx.readUInt32LE(4) !== VERSION) throw new CrxFormatError('Not a CRX3 file.');
  const headerEnd = 12 + crx.readUInt32LE(8);
  if (headerEnd > crx.length) throw new CrxFormatError('The CRX header is cut short.');
  const header = fields(crx.subarray(12, headerEnd));
  const archive = crx.subarray(headerEnd);
  const rsaProofs = header
    .filter(({ field }) => field === FIELD_RSA_PROOF)
    .map(({ value }) => {
      const proof = fields(value);
      return {
        publicKey: proof.find(({ field }) => field === FIELD_PUBLIC_KEY)?.value ?? Buffer.alloc(0),
        signature: proof.find(({ field }) => field === FIELD_SIGNATURE)?.value ?? Buffer.alloc(0),
      };
    });
  const signedHeaderData = header.find(({ field }) => field === FIELD_SIGNED_HEADER_DATA)?.value;
  const crxId =
    signedHeaderData && fields(signedHeaderData).find(({ field }) => field === FIELD_CRX_ID)?.value;
  if (!signedHeaderData || !crxId) throw new CrxFormatError('The CRX names no extension id.');
  const owner = rsaProofs.find((proof) => crxIdBytes(proof.publicKey).equals(crxId));
  if (!owner) throw new CrxFormatError('No key of the CRX matches the id it names.');
  const verifier = createVerify('sha256');
  for (const part of signedBytes(signedHeaderData, archive)) verifier.update(part);
  const key = createPublicKey({ key: owner.publicKey, format: 'der', type: 'spki' });
  if (!verifier.verify(key, owner.signature)) throw new CrxFormatError('The CRX signature does not verify.');
  return { extensionId: extensionIdOf(owner.publicKey), rsaProofs, archive };
}

export interface ChromiumPackage {
  extensionId: string;
  version: string;
}

/** What a CRX says of itself: its signed id and its manifest's version. Throws when it is not a valid package. */
export function describeCrx(crx: Buffer): ChromiumPackage {
  const { extensionId, archive } = parseCrx3(crx);
  const manifest = readZipEntry(archive, 'manifest.json');
  if (!manifest) throw new CrxFormatError('The CRX holds no manifest.json.');
  const { version } = JSON.parse(manifest.toString('utf8')) as { version?: unknown };
  if (typeof version !== 'string' || !isExtensionVersion(version)) {
    throw new CrxFormatError(`The CRX manifest has no valid version (${JSON.stringify(version)}).`);
  }
  return { extensionId, version };
}
