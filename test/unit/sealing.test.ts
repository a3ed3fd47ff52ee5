/**
 * Sealing secrets under the storage key: what an attacker who can edit the store (but lacks the key)
 * can try — alter a sealed value, move it to another record or purpose, truncate it — must fail to
 * open, and the key an operator writes must decode as they meant it.
 */
import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  isSealed,
  Keyring,
  MIN_KEY_BYTES,
  newStorageKey,
  parseStorageKey,
  SealedValueError,
  StorageKey,
  StorageKeyFormatError,
  sealedKeyId,
} from '../../server/crypto/sealing';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const bytes = randomBytes(32);
const key = new StorageKey(bytes);
const ring = new Keyring([key]);

/** Flips one bit of the byte at `index` of a base64url part. */
function flip(part: string, index: number): string {
  const raw = Buffer.from(part, 'base64url');
  raw[index] = (raw[index] ?? 0) ^ 1;
  return raw.toString('base64url');
}

describe('parsing the key an operator sets', () => {
  it('reads openssl rand -base64 32, -hex 32 and base64url alike, white space and a newline ignored', () => {
    expect(parseStorageKey(`${bytes.toString('base64')}\n`).id).toBe(key.id);
    expect(parseStorageKey(`  ${bytes.toString('hex')}  `).id).toBe(key.id);
    expect(parseStorageKey(bytes.toString('hex').toUpperCase()).id).toBe(key.id);
    expect(parseStorageKey(bytes.toString('base64url')).id).toBe(key.id);
    expect(parseStorageKey(bytes.toString('base64').replace(/=+$/, '')).id).toBe(key.id);
  });

  it('refuses fewer than 32 bytes, in either encoding, saying how many', () => {
    const short = randomBytes(MIN_KEY_BYTES - 1);
    expect(() => parseStorageKey(short.toString('base64'))).toThrow(
      new StorageKeyFormatError('it decodes to 31 bytes, fewer than 32'),
    );
    expect(() => parseStorageKey(short.toString('hex'))).toThrow('it decodes to 31 bytes');
    expect(() => new StorageKey(Buffer.alloc(0))).toThrow('it decodes to 0 bytes');
    expect(new StorageKey(randomBytes(64)).id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses a pass phrase or other text that is neither base64 nor hex', () => {
    expect(() => parseStorageKey('correct horse battery staple correct horse battery')).toThrow(
      new StorageKeyFormatError('it is neither base64 nor hex'),
    );
    expect(() => parseStorageKey('')).toThrow('neither base64 nor hex');
    expect(() => parseStorageKey(`${bytes.toString('base64')}!`)).toThrow('neither base64 nor hex');
  });

  it('refuses base64 whose last character holds bits no byte carries (not what a tool wrote)', () => {
    const text = bytes.toString('base64url'); // 43 characters: the last one carries 4 spare bits
    const last = text.at(-1) === 'B' ? 'C' : 'B';
    const odd = `${text.slice(0, -1)}${last}`;
    const decodes = Buffer.from(odd, 'base64url').toString('base64url') === odd;
    expect(decodes).toBe(false);
    expect(() => parseStorageKey(odd)).toThrow(new StorageKeyFormatError('it is not well-formed base64'));
  });

  it('the key id is the key check: stable for a key, different for another, and not the key', () => {
    expect(new StorageKey(Buffer.from(bytes)).id).toBe(key.id);
    expect(newStorageKey().id).not.toBe(key.id);
    expect(key.id).not.toContain(bytes.toString('hex').slice(0, 8));
    expect(parseStorageKey(key.text()).id).toBe(key.id);
  });
});

describe('sealing and opening', () => {
  it('round-trips, names the key that sealed it, and never holds the clear value', () => {
    const sealed = ring.seal(key.id, 'totp-secret', 'user-1', SECRET);
    expect(sealed).toMatch(/^sk1\.[0-9a-f]{32}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(SECRET);
    expect(isSealed(sealed)).toBe(true);
    expect(isSealed(SECRET)).toBe(false);
    expect(sealedKeyId(sealed)).toBe(key.id);
    expect(sealedKeyId(SECRET)).toBeNull();
    expect(ring.open('totp-secret', 'user-1', sealed)).toBe(SECRET);
    expect(ring.open('totp-secret', 'user-1', ring.seal(key.id, 'totp-secret', 'user-1', ''))).toBe('');
  });

  it('draws a new IV each time: the same secret sealed twice gives two texts', () => {
    const a = ring.seal(key.id, 'totp-secret', 'user-1', SECRET);
    const b = ring.seal(key.id, 'totp-secret', 'user-1', SECRET);
    expect(a).not.toBe(b);
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
  });

  it('a value moved to another record, or read for another purpose, fails to open', () => {
    const sealed = ring.seal(key.id, 'totp-secret', 'user-1', SECRET);
    expect(() => ring.open('totp-secret', 'user-2', sealed)).toThrow(
      new SealedValueError('it was altered, or belongs to another record'),
    );
    expect(() => ring.open('oidc-keys', 'user-1', sealed)).toThrow(SealedValueError);
  });

  it('any bit flipped in the IV, the ciphertext or the tag fails to open', () => {
    const sealed = ring.seal(key.id, 'totp-secret', 'user-1', SECRET);
    const [format, id, iv = '', body = ''] = sealed.split('.');
    const tampered = [
      [format, id, flip(iv, 0), body],
      [format, id, iv, flip(body, 0)],
      [format, id, iv, flip(body, Buffer.from(body, 'base64url').length - 1)],
    ];
    for (const parts of tampered) {
      expect(() => ring.open('totp-secret', 'user-1', parts.join('.'))).toThrow(
        'it was altered, or belongs to another record',
      );
    }
  });

  it('refuses what is not a sealed value, or is cut short', () => {
    const sealed = ring.seal(key.id, 'totp-secret', 'user-1', SECRET);
    const [, id, iv = '', body = ''] = sealed.split('.');
    expect(() => ring.open('totp-secret', 'user-1', SECRET)).toThrow(
      new SealedValueError('it is not a sealed value'),
    );
    expect(() => ring.open('totp-secret', 'user-1', `sk2.${id}.${iv}.${body}`)).toThrow('not a sealed value');
    expect(() => ring.open('totp-secret', 'user-1', `${sealed}.x`)).toThrow('not a sealed value');
    expect(() => ring.open('totp-secret', 'user-1', `sk1.${id}.${iv.slice(0, 8)}.${body}`)).toThrow(
      new SealedValueError('it is truncated'),
    );
    expect(() => ring.open('totp-secret', 'user-1', `sk1.${id}.${iv}.${body.slice(0, 20)}`)).toThrow(
      'it is truncated',
    );
    // Exactly a tag and no ciphertext is long enough to judge, and judged altered.
    expect(() => ring.open('totp-secret', 'user-1', `sk1.${id}.${iv}.${body.slice(-22)}`)).toThrow(
      'it was altered',
    );
  });

  it('a value sealed under a key the ring lacks names that key; sealing under it is refused', () => {
    const other = newStorageKey();
    const foreign = new Keyring([other]).seal(other.id, 'totp-secret', 'user-1', SECRET);
    expect(() => ring.open('totp-secret', 'user-1', foreign)).toThrow(
      new SealedValueError(`it was sealed under the storage key ${other.id}, which is not configured`),
    );
    expect(() => ring.seal(other.id, 'totp-secret', 'user-1', SECRET)).toThrow(
      new SealedValueError(`the storage key ${other.id} is not configured`),
    );
  });

  it('a ring of two keys opens what either sealed and knows both ids', () => {
    const next = newStorageKey();
    const both = new Keyring([key, next]);
    expect(both.ids).toEqual([key.id, next.id]);
    expect(both.has(next.id)).toBe(true);
    expect(ring.has(next.id)).toBe(false);
    const old = ring.seal(key.id, 'oidc-keys', 'keys', 'cookie-secret');
    const fresh = both.seal(next.id, 'oidc-keys', 'keys', 'cookie-secret');
    expect(both.open('oidc-keys', 'keys', old)).toBe('cookie-secret');
    expect(both.open('oidc-keys', 'keys', fresh)).toBe('cookie-secret');
    expect(sealedKeyId(fresh)).toBe(next.id);
  });
});

describe('the format, against an independent computation', () => {
  /** A fixed key: its id and subkeys computed here with node:crypto directly, as the docs state them. */
  const fixed = Buffer.alloc(32, 7);
  const hkdf = (label: string, bytes: number) =>
    Buffer.from(hkdfSync('sha256', fixed, Buffer.alloc(0), `sparekey ${label}`, bytes));

  it('the key id is HKDF-SHA256 of the key with the label "sparekey key-id", 16 bytes', () => {
    expect(new StorageKey(fixed).id).toBe(hkdf('key-id', 16).toString('hex'));
  });

  it('a sealed value is AES-256-GCM under HKDF("sparekey <purpose>"), a 12-byte IV, the tag last, AAD sk1\\0purpose\\0id', () => {
    const own = new StorageKey(fixed);
    const sealed = new Keyring([own]).seal(own.id, 'oidc-keys', 'keys', 'clear text');
    const [, , ivText = '', bodyText = ''] = sealed.split('.');
    const iv = Buffer.from(ivText, 'base64url');
    const body = Buffer.from(bodyText, 'base64url');
    expect(iv).toHaveLength(12);
    const decipher = createDecipheriv('aes-256-gcm', hkdf('oidc-keys', 32), iv);
    decipher.setAAD(Buffer.from('sk1\0oidc-keys\0keys'));
    decipher.setAuthTag(body.subarray(body.length - 16));
    const clear = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
    expect(clear.toString('utf8')).toBe('clear text');
    expect(own.subkey('oidc-keys')).toEqual(hkdf('oidc-keys', 32));
    expect(own.subkey('totp-secret')).toEqual(hkdf('totp-secret', 32));
  });

  it('a key added to a ring (the previous key unwrapped at open) opens what it sealed', () => {
    const previous = newStorageKey();
    const sealed = new Keyring([previous]).seal(previous.id, 'totp-secret', 'u', SECRET);
    const later = new Keyring([key]);
    expect(later.has(previous.id)).toBe(false);
    later.add(previous);
    expect(later.has(previous.id)).toBe(true);
    expect(later.open('totp-secret', 'u', sealed)).toBe(SECRET);
  });
});
