/**
 * The vault's cryptography, all through WebCrypto (no hand-written primitives).
 * A passphrase-derived AES-GCM key encrypts the kept codes; only the derived key bytes,
 * never the passphrase, outlive a call.
 */

/** OWASP 2023 minimum for PBKDF2-HMAC-SHA256; a stored record asking for fewer is refused. */
export const PBKDF2_ITERATIONS = 600_000;
const SALT_BYTES = 16;
/** 96 bits: the IV size GCM is specified for; random per write, never reused with a key. */
const IV_BYTES = 12;
const KEY_BITS = 256;

export function randomSalt(): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(SALT_BYTES));
}

/** PBKDF2-SHA256 -> 32 raw key bytes, so the unlocked key can live in storage.session between contexts. */
export async function deriveKeyBytes(
  passphrase: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const material = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(passphrase),
    'PBKDF2',
    false,
    ['deriveBits'],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    KEY_BITS,
  );
  return new Uint8Array(bits);
}

/** Non-extractable: once imported, page-side or later code cannot read the key back out. */
function importAesKey(keyBytes: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', keyBytes, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

export interface Sealed {
  iv: Uint8Array<ArrayBuffer>;
  data: Uint8Array<ArrayBuffer>;
}

/** `context` is authenticated, not encrypted: it binds the ciphertext to its server, user and numbers. */
export async function seal(
  keyBytes: Uint8Array<ArrayBuffer>,
  plaintext: string,
  context: string,
): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await importAesKey(keyBytes);
  const data = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(context) },
    key,
    new TextEncoder().encode(plaintext),
  );
  return { iv, data: new Uint8Array(data) };
}

/** Null when the key is wrong or anything was altered: GCM's tag cannot tell the two apart. */
export async function open(
  keyBytes: Uint8Array<ArrayBuffer>,
  sealed: Sealed,
  context: string,
): Promise<string | null> {
  try {
    const key = await importAesKey(keyBytes);
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: sealed.iv, additionalData: new TextEncoder().encode(context) },
      key,
      sealed.data,
    );
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}
