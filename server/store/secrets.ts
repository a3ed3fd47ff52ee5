/**
 * Sealing at the store adapter's boundary (docs/SECURITY.md, "Secrets at rest"): both stores seal a
 * TOTP secret, an enrolment challenge's pending one and the OIDC key set as they write them and open them as they read them, so the
 * services above always see clear values in memory and the files and rows never hold them.
 *
 * Which key seals is the store's record (the key check: the id of the current key, and during a
 * rekey the previous one's), not this process's setting: during a PostgreSQL rekey instances that
 * hold both keys keep sealing under whichever the store calls current.
 */
import { isSealed, Keyring, parseStorageKey, type StorageKey, sealedKeyId } from '../crypto/sealing';
import { LruCache } from './lru-cache';
import { DamagedAccountError, type OidcKeys, StoreDamagedError, type UserRecord } from './types';

/** What a process was given: the key it runs with and, during a rekey, the one being replaced. */
export interface StorageKeys {
  current: StorageKey;
  previous: StorageKey | null;
}

/** What the store records about its key: the current key's id, and the previous one's during a rekey. */
export interface KeyCheck {
  keyId: string;
  previousKeyId: string | null;
}

/** A key problem found at open: one line for the operator, nothing written. */
export class StorageKeyError extends Error {}

/** Refused at open, in one line, before anything is written. */
export class StorageKeyMismatchError extends StorageKeyError {
  constructor() {
    super('the storage key does not match the store');
    this.name = 'StorageKeyMismatchError';
  }
}

/** The store holds sealed values but this process was given no key (a tool started without it). */
export class StorageKeyMissingError extends StorageKeyError {
  constructor() {
    super(
      'the store is encrypted and no storage key is set: set STORAGE_ENCRYPTION_KEY or STORAGE_ENCRYPTION_KEY_FILE',
    );
    this.name = 'StorageKeyMissingError';
  }
}

/** Users whose sealed TOTP secret is remembered (as many as the lowdb store keeps records of by default). */
const SEALED_TOTP_MEMO = 1000;

/** The id OIDC key sets are sealed under: there is one set per store. */
const OIDC_KEYS_RECORD = 'oidc-keys';

/** The sealed form of a key set in a store: one text in place of the JSON. */
export interface SealedOidcKeys {
  sealed: string;
}

export class StoreSecrets {
  readonly #keyring: Keyring | null;
  readonly #given: StorageKeys | null;
  /**
   * Each user's TOTP secret as last sealed or opened. Every failed sign-in attempt rewrites its
   * user's record (the lockout counter) with the secret unchanged: the sealed form it already has is
   * written again instead of sealing anew (AES-GCM with a fresh IV and a subkey derivation, on the
   * event loop, per attempt). Under another key, or another secret, it is sealed again.
   */
  readonly #sealedTotp = new LruCache<string, { keyId: string; secret: string; sealed: string }>(
    SEALED_TOTP_MEMO,
  );

  constructor(keys: StorageKeys | null) {
    this.#given = keys;
    this.#keyring = keys ? new Keyring([keys.current, ...(keys.previous ? [keys.previous] : [])]) : null;
  }

  /** Whether this process seals at all (a store opened without keys, by a test or tool, does not). */
  get enabled(): boolean {
    return this.#keyring !== null;
  }

  /**
   * The key check a store without one records at its first open with a key: the key this process
   * runs with. null without keys (the store stays in clear).
   */
  initialCheck(): KeyCheck | null {
    return this.#given ? { keyId: this.#given.current.id, previousKeyId: null } : null;
  }

  /** Refuses a store whose recorded key this process does not hold; nothing is written before this. */
  verify(check: KeyCheck | null): void {
    if (check === null) return;
    if (!this.#keyring) throw new StorageKeyMissingError();
    if (!this.#keyring.has(check.keyId)) throw new StorageKeyMismatchError();
    // Mid-rekey values may still be under the previous key: without it some would not open.
    if (check.previousKeyId !== null && !this.#keyring.has(check.previousKeyId)) {
      throw new StorageKeyMismatchError();
    }
  }

  /**
   * The previous key sealed under the current one: what a lowdb rekey records at its switch, so a
   * store interrupted mid-rekey opens with the new key alone (only until the rekey completes).
   */
  wrapKey(keyId: string, key: StorageKey): string {
    if (!this.#keyring) throw new StorageKeyMissingError();
    return this.#keyring.seal(keyId, 'previous-key', 'storage-key', key.text());
  }

  /** Opens a wrapped previous key and adds it to the keys this process holds; a wrong key refuses. */
  adoptWrapped(wrapped: string): void {
    if (!this.#keyring) throw new StorageKeyMissingError();
    let text: string;
    try {
      text = this.#keyring.open('previous-key', 'storage-key', wrapped);
    } catch {
      throw new StorageKeyMismatchError();
    }
    this.#keyring.add(parseStorageKey(text));
  }

  /** A TOTP secret as it is stored: sealed under `keyId` for this user, or clear without keys. */
  sealTotp(keyId: string | null, userId: string, secret: string | null): string | null {
    if (secret === null || keyId === null || !this.#keyring) return secret;
    const known = this.#sealedTotp.get(userId);
    if (known?.keyId === keyId && known.secret === secret) return known.sealed;
    const sealed = this.#keyring.seal(keyId, 'totp-secret', userId, secret);
    this.#sealedTotp.set(userId, { keyId, secret, sealed });
    return sealed;
  }

  /**
   * The clear TOTP secret of a stored record. A clear value is one written before the store had a
   * key, and is sealed by the pass at open; a value that does not open makes the account damaged
   * (its requests 503, every other account works, an admin can delete it).
   */
  openTotp(user: Pick<UserRecord, 'id' | 'username' | 'role'>, stored: string | null): string | null {
    try {
      return this.openTotpOf(user.id, stored);
    } catch (error) {
      throw new DamagedAccountError(
        { id: user.id, username: user.username, role: user.role, reason: (error as Error).message },
        { cause: error },
      );
    }
  }

  /** As openTotp, throwing the reason (SealedValueError, StorageKeyMissingError) for the caller to report. */
  openTotpOf(userId: string, stored: string | null): string | null {
    if (stored === null || !isSealed(stored)) return stored;
    if (!this.#keyring) throw new StorageKeyMissingError();
    const secret = this.#keyring.open('totp-secret', userId, stored);
    const keyId = sealedKeyId(stored);
    if (keyId !== null) this.#sealedTotp.set(userId, { keyId, secret, sealed: stored });
    return secret;
  }

  /**
   * The TOTP secret an enrolment challenge holds until it is confirmed, as stored: sealed under
   * `keyId` with the token's hash as associated data (so it opens for that challenge only), or clear
   * without keys.
   */
  sealPending(keyId: string | null, tokenHash: string, secret: string | null | undefined): string | null {
    if (secret === undefined || secret === null || keyId === null || !this.#keyring) return secret ?? null;
    return this.#keyring.seal(keyId, 'pending-totp-secret', tokenHash, secret);
  }

  /**
   * The clear pending secret of a stored challenge; throws (SealedValueError, StorageKeyMissingError)
   * when it does not open, and the store then counts the challenge as none. A clear value was written
   * before the store had a key: still read, with no sealing pass, since a challenge expires within
   * minutes and is gone long before anyone could need its secret sealed.
   */
  openPending(tokenHash: string, stored: string | null): string | null {
    if (stored === null || !isSealed(stored)) return stored;
    if (!this.#keyring) throw new StorageKeyMissingError();
    return this.#keyring.open('pending-totp-secret', tokenHash, stored);
  }

  sealOidcKeys(keyId: string | null, keys: OidcKeys): OidcKeys | SealedOidcKeys {
    if (keyId === null || !this.#keyring) return keys;
    return { sealed: this.#keyring.seal(keyId, 'oidc-keys', OIDC_KEYS_RECORD, JSON.stringify(keys)) };
  }

  /** The key set as stored (sealed, or clear from before the store had a key) opened; throws when it does not open. */
  openOidcKeys(stored: OidcKeys | SealedOidcKeys): unknown {
    if (!('sealed' in stored)) return stored;
    if (!this.#keyring) throw new StorageKeyMissingError();
    let text: string;
    try {
      text = this.#keyring.open('oidc-keys', OIDC_KEYS_RECORD, stored.sealed);
    } catch (error) {
      // Answered 503 and logged, as a damaged key file is: never replaced silently.
      throw new StoreDamagedError('The OpenID Connect key set', (error as Error).message);
    }
    return JSON.parse(text);
  }
}
