/**
 * Sessions and MFA challenges in lowdb: tokens/<hash>.json, one file per token, named by its hash
 * (hashed again when the hash is not a safe file name). A deleted token stays refused for a while,
 * so a request that read it before logout cannot write it back. An enrolment challenge's pending TOTP
 * secret is sealed in its file (../secrets.ts sealPending) and opened as it is read.
 */
import { join } from 'node:path';
import { SealedValueError, sealedKeyId } from '../../crypto/sealing';
import { recordNames, type StoreFs } from '../fs';
import { LruCache } from '../lru-cache';
import { parserFor, TokenRecordSchema } from '../records';
import { StorageKeyMissingError } from '../secrets';
import type { TokenKind, TokenRecord } from '../types';
import { CorruptFileError, DurableJsonFile, removeFileDurably } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { isStale, logError, mapLimit, READ_CONCURRENCY, SAFE_NAME, sha256Hex } from './record-files';
import { CLEAR, type UserSealing } from './users';

/** How long a deleted token stays refused: longer than any request that read it before it died. */
const TOMBSTONE_MS = 10 * 60_000;
/** Tokens kept in memory after a read (an MFA challenge is read at every attempt, a session at every call). */
const CACHED_TOKENS = 1000;

const parseToken = parserFor(TokenRecordSchema);

export class LowdbTokens {
  readonly dir: string;
  readonly #fs: StoreFs;
  readonly #tokenLocks = new KeyedMutex();
  /** Recently deleted token files: a request that read the token before logout must not write it back. */
  readonly #deadTokens = new Map<string, number>();
  /**
   * Tokens as read from their files (a pending secret opened), by file name, filled by reads. Every
   * change of a token file (write, take, delete, sweep) drops its entry and counts in #changes; a read
   * that ran while any change happened does not fill it, so it never holds a record older than its
   * file. This process is
   * the only writer of DATA_DIR (dir-lock.ts). A file damaged on disk after it was read is seen at its
   * next change or restart.
   */
  readonly #cache = new LruCache<string, TokenRecord>(CACHED_TOKENS);
  #changes = 0;
  readonly #sealing: UserSealing;

  constructor(dataDir: string, fs: StoreFs, sealing: UserSealing = CLEAR) {
    this.dir = join(dataDir, 'tokens');
    this.#fs = fs;
    this.#sealing = sealing;
  }

  idle(): Promise<void> {
    return this.#tokenLocks.idle();
  }

  async putToken(token: TokenRecord): Promise<void> {
    const record = parseToken(structuredClone(token));
    const name = tokenFileName(record.hash);
    await this.#tokenLocks.run(name, async () => {
      if (this.#isDeadToken(name)) return;
      await this.#changing(name, () => this.#tokenFile(name).write(this.#stored(record)));
    });
  }

  /** The record as its file holds it: a pending secret sealed under the store's current key. */
  #stored(record: TokenRecord): TokenRecord {
    if (record.pendingSecret === undefined || record.pendingSecret === null) return record;
    const { secrets, keyId } = this.#sealing;
    return { ...record, pendingSecret: secrets.sealPending(keyId(), record.hash, record.pendingSecret) };
  }

  /**
   * The token as stored, expired or not: the services judge expiry with their own clock (tests run
   * on a fake one) and delete what they find expired, which is the lazy pruning on read. Tokens no
   * one reads again are removed by sweep().
   */
  async getToken(hash: string): Promise<TokenRecord | null> {
    const name = tokenFileName(hash);
    const cached = this.#cache.get(name);
    if (cached) return cached.hash === hash ? { ...cached } : null;
    const changes = this.#changes;
    const record = await this.#readToken(name, hash);
    if (record && changes === this.#changes) this.#cache.set(name, { ...record });
    return record;
  }

  async takeToken(hash: string): Promise<TokenRecord | null> {
    const name = tokenFileName(hash);
    return this.#tokenLocks.run(name, async () => {
      const record = await this.#readToken(name, hash);
      if (!record) return null;
      // unlink succeeds for exactly one caller, even if the lock were bypassed.
      return (await this.#changing(name, () => removeFileDurably(this.#tokenPath(name), this.#fs)))
        ? record
        : null;
    });
  }

  async deleteToken(hash: string): Promise<void> {
    const name = tokenFileName(hash);
    await this.#tokenLocks.run(name, async () => {
      this.#markTokenDead(name);
      await this.#changing(name, () => removeFileDurably(this.#tokenPath(name), this.#fs));
    });
  }

  /** Scans every token file: fine for what calls it (a user deletion or an MFA reset). */
  async deleteTokensOfUser(userId: string, kind?: TokenKind): Promise<void> {
    await mapLimit(await recordNames(this.#fs, this.dir), READ_CONCURRENCY, async (name) => {
      const record = await this.#readToken(name, null);
      if (record?.userId !== userId || (kind && record.kind !== kind)) return;
      await this.#tokenLocks.run(name, async () => {
        this.#markTokenDead(name);
        await this.#changing(name, () => removeFileDurably(this.#tokenPath(name), this.#fs));
      });
    });
  }

  /**
   * At a rekey, before the previous key is forgotten: removes the enrolment challenges whose pending
   * secret is sealed under another key than `keyId` (the user starts the enrolment again; a challenge
   * lives minutes, so re-sealing them is not worth it). Resolves with how many were removed.
   */
  async dropPendingNotUnder(keyId: string): Promise<number> {
    let removed = 0;
    await mapLimit(await recordNames(this.#fs, this.dir), READ_CONCURRENCY, async (name) => {
      await this.#tokenLocks.run(name, async () => {
        const stored = await this.#tokenFile(name)
          .read()
          .catch(() => null);
        const pending = stored?.pendingSecret ?? null;
        if (pending === null || [null, keyId].includes(sealedKeyId(pending))) return;
        if (await this.#changing(name, () => removeFileDurably(this.#tokenPath(name), this.#fs))) removed++;
      });
    });
    return removed;
  }

  /** Removes the token files untouched since `cutoff` whose token expired before it; resolves with their number. */
  async sweep(cutoff: number): Promise<number> {
    let removed = 0;
    await mapLimit(await recordNames(this.#fs, this.dir), READ_CONCURRENCY, async (name) => {
      if (!(await isStale(this.#fs, this.#tokenPath(name), cutoff))) return;
      await this.#tokenLocks.run(name, async () => {
        const record = await this.#readToken(name, null);
        if (record && !(Date.parse(record.expiresAt) < cutoff)) return;
        if (await this.#changing(name, () => removeFileDurably(this.#tokenPath(name), this.#fs))) removed++;
      });
    });
    return removed;
  }

  /** Runs a change of the token's file with its cached record dropped before and after (see #cache). */
  async #changing<T>(name: string, change: () => Promise<T>): Promise<T> {
    this.#changes++;
    this.#cache.delete(name);
    try {
      return await change();
    } finally {
      this.#changes++;
      this.#cache.delete(name);
    }
  }

  /**
   * A damaged token file, or a pending secret that does not open (moved from another challenge,
   * altered, or under a key this process lacks), counts as no token and is removed: a token that
   * cannot be read grants nothing.
   */
  async #readToken(name: string, hash: string | null): Promise<TokenRecord | null> {
    try {
      const record = await this.#tokenFile(name).read();
      if (!record || (hash !== null && record.hash !== hash)) return null;
      if (record.pendingSecret === undefined) return record;
      return {
        ...record,
        pendingSecret: this.#sealing.secrets.openPending(record.hash, record.pendingSecret),
      };
    } catch (error) {
      if (
        !(
          error instanceof CorruptFileError ||
          error instanceof SealedValueError ||
          error instanceof StorageKeyMissingError
        )
      ) {
        throw error;
      }
      logError('token file unreadable, removed', error);
      await this.#changing(name, () => removeFileDurably(this.#tokenPath(name), this.#fs)).catch(() => {});
      return null;
    }
  }

  #markTokenDead(name: string): void {
    const now = Date.now();
    this.#deadTokens.delete(name);
    this.#deadTokens.set(name, now);
    // Insertion order is time order: drop the expired ones from the front.
    for (const [oldName, at] of this.#deadTokens) {
      if (now - at < TOMBSTONE_MS) break;
      this.#deadTokens.delete(oldName);
    }
  }

  #isDeadToken(name: string): boolean {
    const at = this.#deadTokens.get(name);
    return at !== undefined && Date.now() - at < TOMBSTONE_MS;
  }

  #tokenPath(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  #tokenFile(name: string): DurableJsonFile<TokenRecord> {
    return new DurableJsonFile(this.#tokenPath(name), parseToken, this.#fs);
  }
}

/** A token hash that is not already a safe file name (say, base64 with "/") is hashed into one. */
function tokenFileName(hash: string): string {
  return SAFE_NAME.test(hash) ? hash : sha256Hex(hash);
}
