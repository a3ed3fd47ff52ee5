/**
 * Secrets at rest (issue #20): the values a reader of the store must not get in clear (TOTP secrets,
 * an enrolment challenge's pending TOTP secret, the OpenID Connect private keys and cookie secrets) are sealed under the operator's storage key.
 *
 * - One storage key (at least 32 random bytes) gives one AES-256-GCM key per purpose by HKDF-SHA256
 *   with the purpose as its label, so a value sealed for one purpose never opens as another's.
 * - Each seal draws a random 96-bit IV; the associated data names the format, the purpose and the
 *   record's id, so a sealed value copied into another record (another user's) fails to open.
 * - The text says which key sealed it: `sk1.<key id>.<iv>.<ciphertext+tag>` (base64url parts). The
 *   key id is itself an HKDF output of the key under its own label: it is the key check the store
 *   records (a wrong key has another id), and it reveals nothing about the key or the subkeys.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export const MIN_KEY_BYTES = 32;
const FORMAT = 'sk1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a sealed value is for: the HKDF label of its key, and part of its associated data. */
export type SealPurpose = 'totp-secret' | 'pending-totp-secret' | 'oidc-keys' | 'previous-key';

/** A value that does not open: not ours, sealed under a key we lack, altered, or moved to another record. */
export class SealedValueError extends Error {
  constructor(reason: string) {
    super(`A sealed value cannot be opened: ${reason}.`);
    this.name = 'SealedValueError';
  }
}

/** The key (set or generated) does not decode to at least 32 bytes; the message never repeats it. */
export class StorageKeyFormatError extends Error {}

const derive = (material: Buffer, label: string, bytes: number) =>
  Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), `sparekey ${label}`, bytes));

export class StorageKey {
  /** The key check and version: 16 bytes of HKDF output, hex. */
  readonly id: string;
  readonly #material: Buffer;
  readonly #subkeys = new Map<SealPurpose, Buffer>();

  constructor(material: Buffer) {
    if (material.length < MIN_KEY_BYTES) {
      throw new StorageKeyFormatError(`it decodes to ${material.length} bytes, fewer than ${MIN_KEY_BYTES}`);
    }
    this.#material = Buffer.from(material);
    this.id = derive(this.#material, 'key-id', 16).toString('hex');
  }

  /** The key's own text (base64), to write it into a key file; never logged. */
  text(): string {
    return this.#material.toString('base64');
  }

  subkey(purpose: SealPurpose): Buffer {
    let key = this.#subkeys.get(purpose);
    // Stryker disable next-line ConditionalExpression: the cache only saves a derivation; a miss derives the same key
    if (!key) {
      key = derive(this.#material, purpose, 32);
      this.#subkeys.set(purpose, key);
    }
    return key;
  }
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * A key as an operator writes it: hex (`openssl rand -hex 32`) or base64 / base64url
 * (`openssl rand -base64 32`), surrounding white space ignored. Hex is tried first (every hex text is
 * also base64, but one written as hex means its hex bytes). Anything else is refused, not hashed
 * into a key: a pass phrase would be a weak key.
 */
export function parseStorageKey(text: string): StorageKey {
  const trimmed = text.trim();
  if (HEX.test(trimmed)) return new StorageKey(Buffer.from(trimmed, 'hex'));
  const unpadded = trimmed.replace(/=+$/, '');
  if (!BASE64.test(trimmed)) throw new StorageKeyFormatError('it is neither base64 nor hex');
  const bytes = Buffer.from(unpadded.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
  // A text whose last character carries bits the bytes do not hold is not what a tool wrote.
  if (bytes.toString('base64url') !== unpadded.replace(/\+/g, '-').replace(/\//g, '_')) {
    throw new StorageKeyFormatError('it is not well-formed base64');
  }
  return new StorageKey(bytes);
}

/** 32 bytes from the CSPRNG: the key generated on a newcomer's first start. */
export function newStorageKey(): StorageKey {
  return new StorageKey(randomBytes(MIN_KEY_BYTES));
}

const associatedData = (purpose: SealPurpose, recordId: string) =>
  Buffer.from(`${FORMAT}\0${purpose}\0${recordId}`, 'utf8');

export function isSealed(value: string): boolean {
  return value.startsWith(`${FORMAT}.`);
}

/** The id of the key a sealed value names, or null when the value is not sealed. */
export function sealedKeyId(value: string): string | null {
  if (!isSealed(value)) return null;
  // Stryker disable next-line LogicalOperator: a value starting "sk1." always has a second part
  return value.split('.')[1] ?? null;
}

/**
 * The keys a process holds: the one it seals under and those it can open with (during a rekey the
 * old and the new). Which one seals is the store's choice (the key it records as current).
 */
export class Keyring {
  readonly #keys = new Map<string, StorageKey>();

  constructor(keys: StorageKey[]) {
    for (const key of keys) this.#keys.set(key.id, key);
  }

  /** A key learnt at open (the previous key, unwrapped from the store during an interrupted rekey). */
  add(key: StorageKey): void {
    this.#keys.set(key.id, key);
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  seal(keyId: string, purpose: SealPurpose, recordId: string, clear: string): string {
    const key = this.#keys.get(keyId);
    if (!key) throw new SealedValueError(`the storage key ${keyId} is not configured`);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.subkey(purpose), iv);
    cipher.setAAD(associatedData(purpose, recordId));
    const sealed = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return [FORMAT, keyId, iv.toString('base64url'), sealed.toString('base64url')].join('.');
  }

  open(purpose: SealPurpose, recordId: string, value: string): string {
    const parts = value.split('.');
    if (parts.length !== 4 || parts[0] !== FORMAT) throw new SealedValueError('it is not a sealed value');
    // Stryker disable next-line StringLiteral: four parts were counted above, so no default is used
    const [, keyId = '', ivText = '', sealedText = ''] = parts;
    const key = this.#keys.get(keyId);
    if (!key)
      throw new SealedValueError(`it was sealed under the storage key ${keyId}, which is not configured`);
    const iv = Buffer.from(ivText, 'base64url');
    const sealed = Buffer.from(sealedText, 'base64url');
    if (iv.length !== IV_BYTES || sealed.length < TAG_BYTES) throw new SealedValueError('it is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key.subkey(purpose), iv);
    decipher.setAAD(associatedData(purpose, recordId));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SealedValueError('it was altered, or belongs to another record');
    }
  }
}
