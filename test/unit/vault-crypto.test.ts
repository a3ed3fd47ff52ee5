/**
 * The vault's primitives as an attacker holding storage.local would probe them: the key derivation
 * (the published PBKDF2-HMAC-SHA256 vectors for "password"/"salt"), AES-GCM refusing any altered byte or context,
 * a fresh IV per write, and keys WebCrypto will not hand back out.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deriveKeyBytes, open, PBKDF2_ITERATIONS, randomSalt, seal } from '../../extension/src/vault/crypto';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytes = (text: string) => new Uint8Array(new TextEncoder().encode(text));
const KEY = new Uint8Array(32).fill(7);
const CONTEXT = 'https://sparekey.example|alice|1';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the key derivation', () => {
  it('is PBKDF2-HMAC-SHA256 giving 32 bytes (published test vectors)', async () => {
    expect(hex(await deriveKeyBytes('password', bytes('salt'), 1))).toBe(
      '120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b',
    );
    expect(hex(await deriveKeyBytes('password', bytes('salt'), 2))).toBe(
      'ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43',
    );
  });

  it('asks for at least 600,000 iterations and draws a new 16-byte salt each time', () => {
    expect(PBKDF2_ITERATIONS).toBeGreaterThanOrEqual(600_000);
    const a = randomSalt();
    const b = randomSalt();
    expect(a).toHaveLength(16);
    expect(hex(a)).not.toBe(hex(b));
  });
});

describe('sealing and opening', () => {
  it('round-trips, with a new 96-bit IV on every write', async () => {
    const first = await seal(KEY, 'ABCDE-FGHJK', CONTEXT);
    const second = await seal(KEY, 'ABCDE-FGHJK', CONTEXT);
    expect(first.iv).toHaveLength(12);
    expect(hex(first.iv)).not.toBe(hex(second.iv));
    expect(hex(first.data)).not.toBe(hex(second.data));
    expect(new TextDecoder().decode(first.data)).not.toContain('ABCDE');
    expect(await open(KEY, first, CONTEXT)).toBe('ABCDE-FGHJK');
    expect(await open(KEY, second, CONTEXT)).toBe('ABCDE-FGHJK');
  });

  it('opens nothing with another key, another context, or any altered byte', async () => {
    const sealed = await seal(KEY, 'ABCDE-FGHJK', CONTEXT);
    const flip = (array: Uint8Array, i: number) => {
      const copy = new Uint8Array(array);
      copy[i] = (copy[i] ?? 0) ^ 1;
      return copy;
    };
    expect(await open(new Uint8Array(32).fill(8), sealed, CONTEXT)).toBeNull();
    expect(await open(KEY, sealed, 'https://sparekey.example|mallory|1')).toBeNull();
    expect(await open(KEY, sealed, '')).toBeNull();
    expect(await open(KEY, { ...sealed, iv: flip(sealed.iv, 0) }, CONTEXT)).toBeNull();
    expect(await open(KEY, { ...sealed, data: flip(sealed.data, 0) }, CONTEXT)).toBeNull();
    expect(
      await open(KEY, { ...sealed, data: flip(sealed.data, sealed.data.length - 1) }, CONTEXT),
    ).toBeNull();
  });

  it('imports every key as non-extractable, for exactly what it is used for', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    const sealed = await seal(KEY, 'ABCDE-FGHJK', CONTEXT);
    await open(KEY, sealed, CONTEXT);
    await deriveKeyBytes('passphrase', randomSalt(), 1);
    const imports = importKey.mock.calls.map(([format, , algorithm, extractable, usages]) => ({
      format,
      algorithm,
      extractable,
      usages,
    }));
    expect(imports).toEqual([
      { format: 'raw', algorithm: 'AES-GCM', extractable: false, usages: ['encrypt', 'decrypt'] },
      { format: 'raw', algorithm: 'AES-GCM', extractable: false, usages: ['encrypt', 'decrypt'] },
      { format: 'raw', algorithm: 'PBKDF2', extractable: false, usages: ['deriveBits'] },
    ]);
  });
});
