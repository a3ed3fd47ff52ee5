/**
 * Users in lowdb: one small file per user (users/<id>.json, read on demand), the user index that
 * maps names to ids and holds each role (./user-index.ts), a cache of records read or written under
 * their user's lock, and the accounts found damaged. Every change to a user runs under that user's
 * lock; a change that may remove an admin takes the admins lock first.
 */
import { join } from 'node:path';
import { sealedKeyId } from '../../crypto/sealing';
import type { BackupItem } from '../backup';
import type { StoreFs } from '../fs';
import { LruCache } from '../lru-cache';
import { deepFreeze, parserFor, UserRecordSchema, usernameKey } from '../records';
import { StoreSecrets } from '../secrets';
import {
  type DamagedAccount,
  DamagedAccountError,
  LastAdminError,
  type NewAuditEvent,
  type UserChange,
  UsernameTakenError,
  type UserRecord,
} from '../types';
import { CorruptFileError, DurableJsonFile, removeFileDurably } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { mapLimit, READ_CONCURRENCY, SAFE_NAME } from './record-files';
import { UserIndex } from './user-index';

/** How the store's files seal their secrets: the store's secrets, and the key it seals under now. */
export interface UserSealing {
  secrets: StoreSecrets;
  keyId: () => string | null;
}

export const CLEAR: UserSealing = { secrets: new StoreSecrets(null), keyId: () => null };

/** What the users' changes reach in the rest of the store (./index.ts). */
export interface UserLinks {
  /** A deleted user's sessions and challenges go with them (./tokens.ts). */
  deleteTokensOfUser: (userId: string) => Promise<void>;
  /** Appends an audit event committed with a change (UserChange.audit) to the audit log. */
  appendAudit: (event: NewAuditEvent) => Promise<unknown>;
}

export interface LowdbUsersOptions {
  /** Users kept in memory after a read or write under their lock (default 1000). */
  userCacheSize?: number;
  /** Journal lines after which the user index snapshot is rewritten (default 1024, or half the index). */
  indexCompactAfter?: number;
}

const parseUser = parserFor(UserRecordSchema);

export class LowdbUsers {
  readonly dir: string;
  readonly #fs: StoreFs;
  readonly #index: UserIndex;
  readonly #userLocks = new KeyedMutex();
  /** Taken before a user's lock by every change that may remove an admin, so the last one stays. */
  readonly #adminsLock = new KeyedMutex();
  /** Holds only records read or written under their user's lock, so it is never staler than the file. */
  readonly #users: LruCache<string, UserRecord>;
  /** Names and ids of users being created: taken, though not in the index yet. */
  readonly #pendingKeys = new Set<string>();
  readonly #pendingIds = new Set<string>();
  /** Accounts whose file was found damaged, until a read finds it whole again or it is deleted. */
  readonly #damaged = new Map<string, DamagedAccount>();
  readonly #links: UserLinks;
  readonly #sealing: UserSealing;

  constructor(
    dataDir: string,
    fs: StoreFs,
    options: LowdbUsersOptions,
    links: UserLinks,
    sealing: UserSealing = CLEAR,
  ) {
    this.#sealing = sealing;
    this.dir = join(dataDir, 'users');
    this.#fs = fs;
    this.#index = new UserIndex(join(dataDir, 'index.json'), join(dataDir, 'index.jsonl'), {
      compactAfter: options.indexCompactAfter,
      fs,
    });
    this.#users = new LruCache(options.userCacheSize ?? 1000);
    this.#links = links;
  }

  /** Reads the user index; throws IndexUnreadableError when it cannot be read. */
  load(): Promise<void> {
    return this.#index.load();
  }

  close(): Promise<void> {
    return this.#index.close();
  }

  async idle(): Promise<void> {
    await Promise.all([this.#userLocks.idle(), this.#adminsLock.idle()]);
  }

  get size(): number {
    return this.#index.size;
  }

  listAdminIds(): string[] {
    return this.#index
      .entries()
      .filter((entry) => entry.role === 'admin')
      .map((entry) => entry.id);
  }

  /** Every user in creation order; a user whose file is damaged is left out and listed by listDamaged. */
  async listUsers(): Promise<UserRecord[]> {
    const records = await mapLimit(this.#index.entries(), READ_CONCURRENCY, async (entry) => {
      try {
        return await this.getUser(entry.id);
      } catch (error) {
        if (!(error instanceof DamagedAccountError)) throw error;
        return null;
      }
    });
    return records.filter((record): record is UserRecord => record !== null);
  }

  listDamaged(): DamagedAccount[] {
    return [...this.#damaged.values()].map((account) => ({ ...account }));
  }

  /**
   * Reads every indexed user file (a few at a time, each under its user's lock) while `isOpen()`
   * and returns the damaged ones; what it finds shows in listDamaged.
   */
  async verifyUsers(isOpen: () => boolean): Promise<DamagedAccount[]> {
    await mapLimit(this.#index.entries(), 4, async (entry) => {
      if (!isOpen()) return;
      await this.#userLocks.run(entry.id, () => this.#readUser(entry.id).catch(() => null));
    });
    return [...this.#damaged.values()];
  }

  /** Null for an unknown id; throws DamagedAccountError when the user's file is damaged or missing. */
  async getUser(id: string): Promise<UserRecord | null> {
    if (!SAFE_NAME.test(id) || !this.#index.get(id)) return null;
    const cached = this.#users.get(id);
    if (cached) return cached;
    return this.#readUser(id);
  }

  async findUserByUsername(username: string): Promise<UserRecord | null> {
    const id = this.#index.idOfKey(usernameKey(username));
    return id === undefined ? null : this.getUser(id);
  }

  async createUser(user: UserRecord): Promise<void> {
    if (!SAFE_NAME.test(user.id)) throw new Error('A user id may hold only letters, digits, - and _.');
    const record = parseUser(structuredClone(user));
    const key = usernameKey(record.username);
    // Checked and reserved in one synchronous step, so of two racing creates exactly one gets the name.
    if (this.#index.idOfKey(key) !== undefined || this.#pendingKeys.has(key)) {
      throw new UsernameTakenError(record.username);
    }
    if (this.#index.get(record.id) || this.#pendingIds.has(record.id)) {
      throw new Error(`A user with id ${record.id} already exists.`);
    }
    this.#pendingKeys.add(key);
    this.#pendingIds.add(record.id);
    try {
      await this.#userLocks.run(record.id, async () => {
        // The user's file is durable before the index points to it: after a crash the index never
        // names a user without a file (at worst an unindexed file is left, which nothing reads).
        await this.#writeFile(record);
        try {
          await this.#index.put({ id: record.id, username: record.username, key, role: record.role });
        } catch (error) {
          await removeFileDurably(this.#userPath(record.id), this.#fs).catch(() => {});
          throw error;
        }
        this.#cache(record);
      });
    } finally {
      this.#pendingKeys.delete(key);
      this.#pendingIds.delete(record.id);
    }
  }

  async updateUser<T>(id: string, change: (user: UserRecord) => UserChange<T>): Promise<T | null> {
    return this.#updateUser(id, change, false);
  }

  async updateUserKeepingAnAdmin<T>(
    id: string,
    change: (user: UserRecord) => UserChange<T>,
  ): Promise<T | null> {
    return this.#adminsLock.run('admins', () => this.#updateUser(id, change, true));
  }

  async deleteUser(id: string): Promise<boolean> {
    return this.#deleteUser(id, false);
  }

  async deleteUserKeepingAnAdmin(id: string): Promise<boolean> {
    return this.#adminsLock.run('admins', () => this.#deleteUser(id, true));
  }

  /**
   * Puts back one account from a backup: only one that is damaged or gone, since rolling a healthy
   * account back would make its spent codes work again. Refuses when its name now belongs to
   * another account.
   */
  async restoreUser(user: UserRecord): Promise<'replaced' | 'created'> {
    const record = parseUser(structuredClone(user));
    const holder = this.#index.idOfKey(usernameKey(record.username));
    if (holder !== undefined && holder !== record.id) {
      throw new Error(`The name ${record.username} now belongs to another account: delete that one first.`);
    }
    if (holder === undefined) {
      if (this.#index.get(record.id)) throw new Error(`Account ${record.id} now has another name.`);
      await this.createUser(record);
      return 'created';
    }
    await this.#userLocks.run(record.id, async () => {
      const damaged = await this.#readUser(record.id).then(
        () => false,
        (error: unknown) => error instanceof DamagedAccountError,
      );
      if (!damaged) throw new Error(`Account ${record.username} is not damaged: it is left as it is.`);
      const entry = this.#index.get(record.id);
      if (entry && (entry.username !== record.username || entry.role !== record.role)) {
        await this.#index.put({
          id: record.id,
          username: record.username,
          key: usernameKey(record.username),
          role: record.role,
        });
      }
      await this.#writeFile(record);
      this.#cache(record);
      this.#damaged.delete(record.id);
    });
    return 'replaced';
  }

  /**
   * Every account for a backup, each read under its own lock, so a spend is either wholly in the
   * backup or not at all, and a sign-in waits at most for one file read. An account created after
   * the backup began is not in it; one deleted meanwhile is left out.
   */
  async *backupItems(): AsyncGenerator<BackupItem> {
    for (const { id } of this.#index.entries()) {
      const item = await this.#userLocks.run(id, async (): Promise<BackupItem | null> => {
        if (!this.#index.get(id)) return null;
        try {
          const user = this.#users.get(id) ?? (await this.#readUser(id));
          return user ? { kind: 'user', user: structuredClone(user) } : null;
        } catch (error) {
          if (error instanceof DamagedAccountError) return { kind: 'damaged', account: error.account };
          throw error;
        }
      });
      if (item) yield item;
    }
  }

  /** True when `id` is an admin and no other admin is in the index. Call under #adminsLock. */
  #isLastAdmin(id: string): boolean {
    if (this.#index.get(id)?.role !== 'admin') return false;
    return !this.#index.entries().some((entry) => entry.role === 'admin' && entry.id !== id);
  }

  async #updateUser<T>(
    id: string,
    change: (user: UserRecord) => UserChange<T>,
    keepAnAdmin: boolean,
  ): Promise<T | null> {
    if (!SAFE_NAME.test(id)) return null;
    return this.#userLocks.run(id, async () => {
      const entry = this.#index.get(id);
      if (!entry) return null;
      const current = this.#users.get(id) ?? (await this.#readUser(id));
      if (!current) return null;
      this.#cache(current);
      // `change` gets the cached record itself, frozen: it builds the next one and cannot alter this one.
      const { user: next, result, audit = [] } = change(current);
      if (next === null) {
        await Promise.all(audit.map(this.#links.appendAudit));
        return result;
      }
      // Not checked with zod again: `change` built it, typed, from a record checked when it was read,
      // and every read from the disk checks it (seal and schema) anyway. A zod pass here cost more
      // than anything else under the lock (issue 21). It is frozen when cached, like every record.
      const record = next;
      if (record.id !== id) throw new Error('updateUser cannot change a user id.');
      if (keepAnAdmin && record.role !== 'admin' && this.#isLastAdmin(id)) throw new LastAdminError();
      const key = usernameKey(record.username);
      const renamed = key !== entry.key;
      if (renamed && (this.#index.idOfKey(key) !== undefined || this.#pendingKeys.has(key))) {
        throw new UsernameTakenError(record.username);
      }
      // A new name is held while the file is written, so a racing create cannot take it meanwhile.
      if (renamed) this.#pendingKeys.add(key);
      try {
        // A name or role commits in the index, before the file: a power cut between the two leaves
        // the new name and role in the index and the old ones in the file, and every read takes
        // them from the index (#readUser), so the two never disagree in what the store answers.
        const indexChanged = record.username !== entry.username || record.role !== entry.role;
        if (indexChanged) await this.#index.put({ id, username: record.username, key, role: record.role });
        try {
          // Issued together, so the file writer takes them in one batch (./file-writer.ts).
          await Promise.all([this.#writeFile(record), ...audit.map(this.#links.appendAudit)]);
        } catch (error) {
          // The rename may have happened before the failure: the next call must read the file, not trust memory.
          this.#users.delete(id);
          if (indexChanged) await this.#index.put(entry).catch(() => {});
          throw error;
        }
        this.#cache(record);
      } finally {
        if (renamed) this.#pendingKeys.delete(key);
      }
      return result;
    });
  }

  async #deleteUser(id: string, keepAnAdmin: boolean): Promise<boolean> {
    if (!SAFE_NAME.test(id)) return false;
    const deleted = await this.#userLocks.run(id, async () => {
      if (!this.#index.get(id)) return false;
      if (keepAnAdmin && this.#isLastAdmin(id)) throw new LastAdminError();
      // Out of the index first: from this moment the account cannot sign in, even if the unlink fails.
      await this.#index.remove(id);
      this.#users.delete(id);
      this.#damaged.delete(id);
      await removeFileDurably(this.#userPath(id), this.#fs);
      return true;
    });
    if (deleted) await this.#links.deleteTokensOfUser(id);
    return deleted;
  }

  /**
   * Every user's file with its TOTP secret under the current key (the pass at open after a first
   * start with a key, or a rekey), each under its user's lock; a file already under it is not
   * written. A damaged file is left for store:check; resolves with how many were rewritten.
   */
  async resealAll(): Promise<number> {
    const keyId = this.#sealing.keyId();
    if (keyId === null) return 0;
    let rewritten = 0;
    for (const { id } of this.#index.entries()) {
      await this.#userLocks.run(id, async () => {
        const stored = await this.#userFile(id)
          .read()
          .catch(() => null);
        const secret = stored?.mfa.secret ?? null;
        if (secret === null || sealedKeyId(secret) === keyId) return;
        const record = await this.#readUser(id).catch(() => null);
        if (!record) return;
        await this.#writeFile(record);
        rewritten++;
      });
    }
    return rewritten;
  }

  /**
   * Keeps `record` for the reads and changes that follow, frozen, so that it is handed out as it is
   * instead of copied for every reader: a caller that tried to change it would throw, not corrupt it.
   */
  #cache(record: UserRecord): void {
    this.#users.set(record.id, deepFreeze(record));
  }

  /** The record as stored: its TOTP secret sealed under the store's current key. */
  async #writeFile(record: UserRecord): Promise<void> {
    const { secrets, keyId } = this.#sealing;
    const secret = secrets.sealTotp(keyId(), record.id, record.mfa.secret);
    await this.#userFile(record.id).write({ ...record, mfa: { ...record.mfa, secret } });
  }

  async #readUser(id: string): Promise<UserRecord | null> {
    let record: UserRecord | null;
    try {
      record = await this.#userFile(id).read();
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      throw this.#damage(id, error.reason, error);
    }
    const entry = this.#index.get(id);
    if (!entry) return null;
    // The index names it, so its file must exist (a create writes the file first, a delete unlinks it last).
    if (!record) throw this.#damage(id, 'the file is missing');
    if (record.id !== id) throw this.#damage(id, 'the file holds another user');
    try {
      record.mfa.secret = this.#sealing.secrets.openTotpOf(id, record.mfa.secret);
    } catch (error) {
      // Moved from another user's file, altered, or under a key this process lacks.
      throw this.#damage(id, (error as Error).message, error);
    }
    this.#damaged.delete(id);
    // A name or role change cut short by a crash left the new ones in the index only (see updateUser).
    if (record.username !== entry.username || record.role !== entry.role) {
      return { ...record, username: entry.username, role: entry.role };
    }
    return record;
  }

  /** Notes a damaged account (reported once, by path and reason only) and returns the error reads throw. */
  #damage(id: string, reason: string, cause?: unknown): DamagedAccountError {
    const entry = this.#index.get(id);
    const account: DamagedAccount = {
      id,
      username: entry?.username ?? id,
      role: entry?.role ?? 'user',
      reason,
    };
    if (entry && this.#damaged.get(id)?.reason !== reason) {
      this.#damaged.set(id, account);
      console.error(
        JSON.stringify({ level: 'error', msg: 'user file damaged', path: this.#userPath(id), reason }),
      );
    }
    return new DamagedAccountError(account, { cause });
  }

  #userPath(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  #userFile(id: string): DurableJsonFile<UserRecord> {
    return new DurableJsonFile(this.#userPath(id), parseUser, this.#fs);
  }
}
