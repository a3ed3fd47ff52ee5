/**
 * The stores' TOTP sealing remembers each user's sealed secret: a write that leaves the secret as it
 * was (every failed attempt rewrites the record for its lockout counter) stores the same sealed
 * value again instead of sealing anew, and anything else (another secret, another key, another
 * user) is sealed for what it is.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring, StorageKey, sealedKeyId } from '../../server/crypto/sealing';
import { StoreSecrets } from '../../server/store/secrets';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const OTHER_SECRET = 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU';

function keysAndSecrets() {
  const current = new StorageKey(randomBytes(32));
  const next = new StorageKey(randomBytes(32));
  return { current, next, secrets: new StoreSecrets({ current, previous: next }) };
}

describe('StoreSecrets: sealing a TOTP secret', () => {
  it('an unchanged secret is written with the sealed value it already has', () => {
    const { current, secrets } = keysAndSecrets();
    const first = secrets.sealTotp(current.id, 'user-1', SECRET);
    const again = secrets.sealTotp(current.id, 'user-1', SECRET);
    expect(again).toBe(first);
    // Sealing itself uses a fresh IV each time: only the memory makes the two equal.
    expect(new Keyring([current]).seal(current.id, 'totp-secret', 'user-1', SECRET)).not.toBe(first);
    expect(secrets.openTotpOf('user-1', again)).toBe(SECRET);
  });

  it('a value read from the store is written back as it was read', () => {
    const { current, secrets } = keysAndSecrets();
    const stored = new Keyring([current]).seal(current.id, 'totp-secret', 'user-1', SECRET);
    expect(secrets.openTotpOf('user-1', stored)).toBe(SECRET);
    expect(secrets.sealTotp(current.id, 'user-1', SECRET)).toBe(stored);
  });

  it('a new secret, another key or another user is sealed anew, and opens for what it is', () => {
    const { current, next, secrets } = keysAndSecrets();
    const first = secrets.sealTotp(current.id, 'user-1', SECRET);
    const changed = secrets.sealTotp(current.id, 'user-1', OTHER_SECRET) as string;
    expect(changed).not.toBe(first);
    expect(secrets.openTotpOf('user-1', changed)).toBe(OTHER_SECRET);

    const rekeyed = secrets.sealTotp(next.id, 'user-1', OTHER_SECRET) as string;
    expect(sealedKeyId(rekeyed)).toBe(next.id);
    expect(secrets.openTotpOf('user-1', rekeyed)).toBe(OTHER_SECRET);

    // The same secret for another user is sealed to that user: it does not open as user-1's.
    const theirs = secrets.sealTotp(next.id, 'user-2', OTHER_SECRET) as string;
    expect(theirs).not.toBe(rekeyed);
    expect(() => secrets.openTotpOf('user-1', theirs)).toThrow();
  });

  it('without keys, or without a secret, the value is stored as it is', () => {
    expect(new StoreSecrets(null).sealTotp(null, 'user-1', SECRET)).toBe(SECRET);
    const { current, secrets } = keysAndSecrets();
    expect(secrets.sealTotp(current.id, 'user-1', null)).toBeNull();
  });
});
