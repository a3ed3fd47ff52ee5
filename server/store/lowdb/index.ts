/**
 * The embedded store: lowdb files under DATA_DIR, laid out so that the cost of a write does not grow
 * with the number of users.
 *
 *   policy.json              the admin policy (cached in memory)
 *   index.json, index.jsonl  the user index: snapshot + journal of changes (./user-index.ts)
 *   users/<id>.json          one small file per user, read on demand
 *   tokens/<hash>.json       one file per session or MFA challenge, named by the token's hash
 *   ip-failures/<sha256(ip)>.json  failed attempts per client address
 *   unknown-names/<sha256(name)>.json  the password lockout of a name no account has
 *   audit.jsonl              the audit log, append-only, one event per line, indexed in memory
 *                            by user and type (./audit-log.ts)
 *
 * Every JSON file is written atomically and durably (./durable-json-file.ts) and every log line is
 * fsynced before its promise resolves. Single process: the locks live in memory.
 */
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { type AuditEvent, DEFAULT_POLICY, type Policy, type SavedPolicy } from '../../../shared/api';
import { type BackupCounts, type BackupItem, countItem, emptyCounts } from '../backup';
import { nodeFs, recordNames, type StoreFs, syncDirectory } from '../fs';
import { LruCache } from '../lru-cache';
import {
  type IpFailures,
  IpFailuresSchema,
  OPEN_LOCKOUT,
  PolicySchema,
  parserFor,
  TokenRecordSchema,
  type UnknownName,
  UnknownNameSchema,
  UserRecordSchema,
  unknownNameKey,
  usernameKey,
} from '../records';
import type { ApplicationRecord, OidcKeys, OidcPayload } from '../types';
import {
  type AuditPage,
  type AuditQuery,
  type DamagedAccount,
  DamagedAccountError,
  LastAdminError,
  type Lockout,
  type NewAuditEvent,
  type Store,
  type TokenKind,
  type TokenRecord,
  UsernameTakenError,
  type UserRecord,
} from '../types';
import { AuditLog, type AuditLogOptions } from './audit-log';
import { lockDirectory } from './dir-lock';
import { CorruptFileError, DurableJsonFile, removeFileDurably, removeTempFiles } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { LowdbOidcStore } from './oidc';
import { UserIndex } from './user-index';

export { CorruptFileError } from './durable-json-file';
export { IndexUnreadableError } from './user-index';

export interface LowdbStoreOptions {
  /** Users kept in memory after a read or write under their lock (default 1000). */
  userCacheSize?: number;
  /** Journal lines after which the user index snapshot is rewritten (default 1024, or half the index). */
  indexCompactAfter?: number;
  /** Audit lines indexed per user and per event type (default 500, the API's largest page). */
  auditIndexDepth?: number;
  /**
   * Read every user file in the background after open, so damage shows in listDamaged (and
   * /healthz) before anyone signs in (default false; the server turns it on).
   */
  verifyUsersOnOpen?: boolean;
  /** The file system (node's by default; the power-loss test passes a recorder). */
  fs?: StoreFs;
  /** Audit retention: rotation size, and how long / how many rotated files are kept (./audit-log.ts). */
  audit?: Pick<AuditLogOptions, 'rotateBytes' | 'retentionDays' | 'retentionFiles' | 'now'>;
}

/** Ids and hashes become file names: anything but these characters could walk out of the directory. */
const SAFE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** Bounds one address's file, so a flood of failures cannot make each write bigger without limit. */
const MAX_IP_FAILURES = 10_000;
/** How long a deleted token stays refused: longer than any request that read it before it died. */
const TOMBSTONE_MS = 10 * 60_000;
/** Files read at once when a call must visit many (listUsers, deleteTokensOfUser). */
const READ_CONCURRENCY = 16;
/** Token and address-failure writes between two sweeps of abandoned files. */
const SWEEP_EVERY = 1000;
/** A file untouched this long (and a token expired this long) is abandoned. */
const SWEEP_AGE_MS = 24 * 60 * 60_000;
/** An unknown name that was locked is kept this long: its escalation is what an account's would be. */
const LOCKED_UNKNOWN_NAME_AGE_MS = 30 * SWEEP_AGE_MS;
const TEMP_FILE_AGE_MS = 60 * 60_000;

const parseUser = parserFor(UserRecordSchema);
const parseToken = parserFor(TokenRecordSchema);
const parseIpFailures = parserFor(IpFailuresSchema);
const parseUnknownName = parserFor(UnknownNameSchema);

export class LowdbStore implements Store {
  readonly #dir: string;
  readonly #fs: StoreFs;
  #unlock: () => Promise<void> = async () => {};
  readonly #usersDir: string;
  readonly #tokensDir: string;
  readonly #ipDir: string;
  readonly #unknownNamesDir: string;
  readonly #policy: Low<SavedPolicy>;
  readonly #index: UserIndex;
  readonly #audit: AuditLog;
  /** The OpenID Connect provider's data, in DATA_DIR/oidc (./lowdb-oidc.ts). */
  readonly #oidc: LowdbOidcStore;
  readonly #userLocks = new KeyedMutex();
  readonly #tokenLocks = new KeyedMutex();
  readonly #ipLocks = new KeyedMutex();
  readonly #unknownNameLocks = new KeyedMutex();
  readonly #policyLock = new KeyedMutex();
  /** Taken before a user's lock by every change that may remove an admin, so the last one stays. */
  readonly #adminsLock = new KeyedMutex();
  /** Holds only records read or written under their user's lock, so it is never staler than the file. */
  readonly #users: LruCache<string, UserRecord>;
  /** Names and ids of users being created: taken, though not in the index yet. */
  readonly #pendingKeys = new Set<string>();
  readonly #pendingIds = new Set<string>();
  /** Recently deleted token files: a request that read the token before logout must not write it back. */
  readonly #deadTokens = new Map<string, number>();
  /** Accounts whose file was found damaged, until a read finds it whole again or it is deleted. */
  readonly #damaged = new Map<string, DamagedAccount>();
  readonly #verifyOnOpen: boolean;
  #verifying: Promise<unknown> | null = null;
  #isOpen = false;
  #writesSinceSweep = 0;
  #sweeping: Promise<void> | null = null;

  constructor(dataDir: string, options: LowdbStoreOptions = {}) {
    this.#dir = dataDir;
    this.#fs = options.fs ?? nodeFs;
    this.#usersDir = join(dataDir, 'users');
    this.#tokensDir = join(dataDir, 'tokens');
    this.#ipDir = join(dataDir, 'ip-failures');
    this.#unknownNamesDir = join(dataDir, 'unknown-names');
    this.#policy = new Low(
      new DurableJsonFile(join(dataDir, 'policy.json'), parserFor(PolicySchema), this.#fs),
      structuredClone(DEFAULT_POLICY),
    );
    this.#index = new UserIndex(join(dataDir, 'index.json'), join(dataDir, 'index.jsonl'), {
      compactAfter: options.indexCompactAfter,
      fs: this.#fs,
    });
    this.#audit = new AuditLog(join(dataDir, 'audit.jsonl'), {
      ...options.audit,
      indexDepth: options.auditIndexDepth,
      fs: this.#fs,
    });
    this.#users = new LruCache(options.userCacheSize ?? 1000);
    this.#oidc = new LowdbOidcStore(dataDir, this.#fs);
    this.#verifyOnOpen = options.verifyUsersOnOpen ?? false;
  }

  /**
   * Reads the policy and the user index, cleans temp files left by a crash and repairs a torn log
   * line. Throws (IndexUnreadableError, CorruptFileError) when the index or the policy cannot be
   * read: starting with an unknown set of accounts or a default policy would be wrong. User files
   * are not read here, so one damaged user file cannot stop the server.
   */
  async open(): Promise<void> {
    if (this.#isOpen) return;
    // 0700: the directory holds password hashes and TOTP secrets.
    for (const dir of [this.#dir, this.#usersDir, this.#tokensDir, this.#ipDir, this.#unknownNamesDir]) {
      await this.#fs.mkdir(dir, { recursive: true, mode: 0o700 });
    }
    await syncDirectory(this.#fs, this.#dir);
    this.#unlock = await lockDirectory(this.#dir, this.#fs);
    // Only the top directory here: listing 100,000 user files would slow every start. Temp files in
    // the record directories are never read (their names are not <id>.json) and the sweep removes them.
    await removeTempFiles(this.#dir, undefined, this.#fs);
    try {
      await this.#policy.read();
      await this.#index.load();
      try {
        await this.#audit.open();
        await this.#oidc.open();
      } catch (error) {
        await this.#index.close();
        throw error;
      }
    } catch (error) {
      await this.#unlock();
      throw error;
    }
    this.#isOpen = true;
    if (this.#verifyOnOpen) {
      this.#verifying = this.verifyUsers().catch((error) => logError('verifying user files failed', error));
    }
  }

  async close(): Promise<void> {
    if (!this.#isOpen) return;
    this.#isOpen = false;
    await this.#verifying;
    await Promise.all([
      this.#userLocks.idle(),
      this.#tokenLocks.idle(),
      this.#ipLocks.idle(),
      this.#unknownNameLocks.idle(),
      this.#policyLock.idle(),
      this.#adminsLock.idle(),
      this.#sweeping,
      this.#oidc.close(),
    ]);
    await this.#index.close();
    await this.#audit.close();
    await this.#unlock();
  }

  /** Files on the local disk: open means reachable. */
  async ping(): Promise<void> {
    this.#assertOpen();
  }

  async getPolicy(): Promise<Policy> {
    this.#assertOpen();
    return structuredClone(this.#policy.data);
  }

  async setPolicy(policy: Policy): Promise<void> {
    this.#assertOpen();
    const checked = PolicySchema.parse(policy);
    await this.#policyLock.run('policy', async () => {
      await this.#policy.adapter.write(checked);
      this.#policy.data = checked;
    });
  }

  async countUsers(): Promise<number> {
    this.#assertOpen();
    return this.#index.size;
  }

  async listAdminIds(): Promise<string[]> {
    this.#assertOpen();
    return this.#index
      .entries()
      .filter((entry) => entry.role === 'admin')
      .map((entry) => entry.id);
  }

  /** Every user in creation order; a user whose file is damaged is left out and listed by listDamaged. */
  async listUsers(): Promise<UserRecord[]> {
    this.#assertOpen();
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

  async pageAudit(query: AuditQuery, cursor?: string): Promise<AuditPage> {
    this.#assertOpen();
    return this.#audit.page(query, cursor);
  }

  exportAudit(from: string, to: string): AsyncIterable<AuditEvent> {
    this.#assertOpen();
    return this.#audit.range(from, to);
  }

  async listDamaged(): Promise<DamagedAccount[]> {
    this.#assertOpen();
    return [...this.#damaged.values()].map((account) => ({ ...account }));
  }

  /**
   * Reads every indexed user file (a few at a time, each under its user's lock) and returns the
   * damaged ones; what it finds shows in listDamaged.
   */
  async verifyUsers(): Promise<DamagedAccount[]> {
    await mapLimit(this.#index.entries(), 4, async (entry) => {
      if (!this.#isOpen) return;
      await this.#userLocks.run(entry.id, () => this.#readUser(entry.id).catch(() => null));
    });
    return [...this.#damaged.values()];
  }

  /** Null for an unknown id; throws DamagedAccountError when the user's file is damaged or missing. */
  async getUser(id: string): Promise<UserRecord | null> {
    this.#assertOpen();
    if (!SAFE_NAME.test(id) || !this.#index.get(id)) return null;
    const cached = this.#users.get(id);
    if (cached) return structuredClone(cached);
    return this.#readUser(id);
  }

  async findUserByUsername(username: string): Promise<UserRecord | null> {
    this.#assertOpen();
    const id = this.#index.idOfKey(usernameKey(username));
    return id === undefined ? null : this.getUser(id);
  }

  async createUser(user: UserRecord): Promise<void> {
    this.#assertOpen();
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
        await this.#userFile(record.id).write(record);
        try {
          await this.#index.put({ id: record.id, username: record.username, key, role: record.role });
        } catch (error) {
          await removeFileDurably(this.#userPath(record.id), this.#fs).catch(() => {});
          throw error;
        }
        this.#users.set(record.id, record);
      });
    } finally {
      this.#pendingKeys.delete(key);
      this.#pendingIds.delete(record.id);
    }
  }

  async updateUser<T>(
    id: string,
    change: (user: UserRecord) => { user: UserRecord | null; result: T },
  ): Promise<T | null> {
    return this.#updateUser(id, change, false);
  }

  async updateUserKeepingAnAdmin<T>(
    id: string,
    change: (user: UserRecord) => { user: UserRecord | null; result: T },
  ): Promise<T | null> {
    return this.#adminsLock.run('admins', () => this.#updateUser(id, change, true));
  }

  async deleteUserKeepingAnAdmin(id: string): Promise<boolean> {
    return this.#adminsLock.run('admins', () => this.#deleteUser(id, true));
  }

  /** True when `id` is an admin and no other admin is in the index. Call under #adminsLock. */
  #isLastAdmin(id: string): boolean {
    if (this.#index.get(id)?.role !== 'admin') return false;
    return !this.#index.entries().some((entry) => entry.role === 'admin' && entry.id !== id);
  }

  async #updateUser<T>(
    id: string,
    change: (user: UserRecord) => { user: UserRecord | null; result: T },
    keepAnAdmin: boolean,
  ): Promise<T | null> {
    this.#assertOpen();
    if (!SAFE_NAME.test(id)) return null;
    return this.#userLocks.run(id, async () => {
      const entry = this.#index.get(id);
      if (!entry) return null;
      const current = this.#users.get(id) ?? (await this.#readUser(id));
      if (!current) return null;
      this.#users.set(id, current);
      // `change` gets a copy: if it throws halfway, the cached record is untouched.
      const { user: next, result } = change(structuredClone(current));
      if (next === null) return result;
      const record = parseUser(structuredClone(next));
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
          await this.#userFile(id).write(record);
        } catch (error) {
          // The rename may have happened before the failure: the next call must read the file, not trust memory.
          this.#users.delete(id);
          if (indexChanged) await this.#index.put(entry).catch(() => {});
          throw error;
        }
        this.#users.set(id, record);
      } finally {
        if (renamed) this.#pendingKeys.delete(key);
      }
      return result;
    });
  }

  async deleteUser(id: string): Promise<boolean> {
    return this.#deleteUser(id, false);
  }

  async #deleteUser(id: string, keepAnAdmin: boolean): Promise<boolean> {
    this.#assertOpen();
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
    if (deleted) await this.deleteTokensOfUser(id);
    return deleted;
  }

  async putToken(token: TokenRecord): Promise<void> {
    this.#assertOpen();
    const record = parseToken(structuredClone(token));
    const name = tokenFileName(record.hash);
    await this.#tokenLocks.run(name, async () => {
      if (this.#isDeadToken(name)) return;
      await this.#tokenFile(name).write(record);
    });
    this.#countWrite();
  }

  /**
   * The token as stored, expired or not: the services judge expiry with their own clock (tests run
   * on a fake one) and delete what they find expired, which is the lazy pruning on read. Tokens no
   * one reads again are removed by sweepExpired().
   */
  async getToken(hash: string): Promise<TokenRecord | null> {
    this.#assertOpen();
    return this.#readToken(tokenFileName(hash), hash);
  }

  async takeToken(hash: string): Promise<TokenRecord | null> {
    this.#assertOpen();
    const name = tokenFileName(hash);
    return this.#tokenLocks.run(name, async () => {
      const record = await this.#readToken(name, hash);
      if (!record) return null;
      // unlink succeeds for exactly one caller, even if the lock were bypassed.
      return (await removeFileDurably(this.#tokenPath(name), this.#fs)) ? record : null;
    });
  }

  async deleteToken(hash: string): Promise<void> {
    this.#assertOpen();
    const name = tokenFileName(hash);
    await this.#tokenLocks.run(name, async () => {
      this.#markTokenDead(name);
      await removeFileDurably(this.#tokenPath(name), this.#fs);
    });
  }

  /** Scans every token file: fine for what calls it (a user deletion or an MFA reset). */
  async deleteTokensOfUser(userId: string, kind?: TokenKind): Promise<void> {
    this.#assertOpen();
    await mapLimit(await recordNames(this.#fs, this.#tokensDir), READ_CONCURRENCY, async (name) => {
      const record = await this.#readToken(name, null);
      if (record?.userId !== userId || (kind && record.kind !== kind)) return;
      await this.#tokenLocks.run(name, async () => {
        this.#markTokenDead(name);
        await removeFileDurably(this.#tokenPath(name), this.#fs);
      });
    });
  }

  async reserveIpAttempt(ip: string, since: string, limit: number, at: string): Promise<boolean> {
    this.#assertOpen();
    const name = ipFileName(ip);
    const sinceMs = Date.parse(since);
    const granted = await this.#ipLocks.run(name, async () => {
      // Counted and recorded under one lock: concurrent attempts cannot all see room for one more.
      const recent = (await this.#readIpFailures(name)).filter((t) => !(Date.parse(t) < sinceMs));
      if (recent.length >= limit) return false;
      await this.#ipFile(name).write({ failures: [...recent, at].slice(-MAX_IP_FAILURES) });
      return true;
    });
    if (granted) this.#countWrite();
    return granted;
  }

  async releaseIpAttempt(ip: string, at: string): Promise<void> {
    this.#assertOpen();
    const name = ipFileName(ip);
    await this.#ipLocks.run(name, async () => {
      const failures = await this.#readIpFailures(name);
      const index = failures.lastIndexOf(at);
      if (index === -1) return;
      failures.splice(index, 1);
      if (failures.length === 0) await removeFileDurably(this.#ipPath(name));
      else await this.#ipFile(name).write({ failures });
    });
  }

  async updateUnknownNameLockout<T>(
    username: string,
    change: (lockout: Lockout) => { lockout: Lockout; result: T },
  ): Promise<T> {
    this.#assertOpen();
    const name = unknownNameKey(username);
    const result = await this.#unknownNameLocks.run(name, async () => {
      const next = change((await this.#readUnknownName(name))?.lockout ?? OPEN_LOCKOUT);
      await this.#unknownNameFile(name).write({ lockout: next.lockout });
      return next.result;
    });
    this.#countWrite();
    return result;
  }

  /** Counts the failures at or after `since`, and prunes the older ones of this address. */
  async countIpFailures(ip: string, since: string): Promise<number> {
    this.#assertOpen();
    const name = ipFileName(ip);
    const sinceMs = Date.parse(since);
    const isRecent = (at: string) => !(Date.parse(at) < sinceMs);
    const failures = await this.#readIpFailures(name);
    const recent = failures.filter(isRecent).length;
    if (recent < failures.length) {
      await this.#ipLocks.run(name, async () => {
        const latest = (await this.#readIpFailures(name)).filter(isRecent);
        if (latest.length === 0) await removeFileDurably(this.#ipPath(name), this.#fs);
        else await this.#ipFile(name).write({ failures: latest });
      });
    }
    return recent;
  }

  async appendAudit(event: NewAuditEvent): Promise<AuditEvent> {
    this.#assertOpen();
    const stored: AuditEvent = { id: randomUUID(), ...event };
    await this.#audit.append(stored);
    return stored;
  }

  /**
   * Newest first. `userId` matches events where the user is the actor or the subject; a query by
   * user or type reads only the indexed lines, one without either reads backwards until `limit`
   * events match. Lines that do not parse are skipped.
   */
  async listAudit(query: AuditQuery): Promise<AuditEvent[]> {
    this.#assertOpen();
    return this.#audit.list(query);
  }

  /**
   * The store's records for a backup (./backup.ts), read while the server runs. Each account is
   * read under its own lock, so a spend is either wholly in the backup or not at all, and a sign-in
   * waits at most for one file read; the audit log is read up to where it stood when its turn came.
   * An account created after the backup began is not in it; one deleted meanwhile is left out. The
   * OpenID Connect applications and key set come next to the policy (each file is replaced whole, so
   * a read sees one version); the provider's short-lived records are left out (./backup.ts).
   */
  async *exportBackup(): AsyncGenerator<BackupItem> {
    this.#assertOpen();
    yield { kind: 'policy', policy: structuredClone(this.#policy.data) };
    for (const application of await this.#oidc.listApplications()) yield { kind: 'application', application };
    const keys = await this.#oidc.getOidcKeys();
    if (keys) yield { kind: 'oidc_keys', keys };
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
    const damaged = { lines: 0 };
    for await (const event of this.#audit.events(damaged)) yield { kind: 'audit', event };
    if (damaged.lines > 0) logError('damaged audit lines left out of the backup', String(damaged.lines));
  }

  /** Replays a backup into this store, which must be empty (no account, audit event, application or key). */
  async importBackup(items: AsyncIterable<BackupItem>): Promise<BackupCounts> {
    this.#assertOpen();
    if (
      this.#index.size > 0 ||
      (await this.#audit.list({ limit: 1 })).length > 0 ||
      (await this.#oidc.listApplications()).length > 0 ||
      (await this.#oidc.getOidcKeys()) !== null
    ) {
      throw new Error(`${this.#dir} is not empty: a backup is restored only into an empty DATA_DIR.`);
    }
    const counts = emptyCounts();
    // Written a batch at a time: the files in parallel, the index and log lines by group commit.
    let users: UserRecord[] = [];
    let events: AuditEvent[] = [];
    const flush = async () => {
      await mapLimit(users, READ_CONCURRENCY, (user) => this.createUser(user));
      await Promise.all(events.map((event) => this.#audit.append(event)));
      users = [];
      events = [];
    };
    for await (const item of items) {
      countItem(counts, item);
      if (item.kind === 'policy') await this.setPolicy(item.policy);
      if (item.kind === 'application') await this.#oidc.createApplication(item.application);
      if (item.kind === 'oidc_keys') await this.#oidc.updateOidcKeys(() => item.keys);
      if (item.kind === 'user') users.push(item.user);
      if (item.kind === 'audit') events.push(item.event);
      if (users.length + events.length >= 256) await flush();
    }
    await flush();
    return counts;
  }

  /**
   * Puts back one account from a backup: only one that is damaged or gone, since rolling a healthy
   * account back would make its spent codes work again. Refuses when its name now belongs to
   * another account.
   */
  async restoreUser(user: UserRecord): Promise<'replaced' | 'created'> {
    this.#assertOpen();
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
      await this.#userFile(record.id).write(record);
      this.#users.set(record.id, record);
      this.#damaged.delete(record.id);
    });
    return 'replaced';
  }

  /**
   * Removes the token and address-failure files that nobody read again, so abandoned sign-ins and
   * sessions never logged out do not pile up, and temp files a crash left. Runs in the background
   * every SWEEP_EVERY token or failure writes (never at startup). Only files untouched for
   * SWEEP_AGE_MS of real time are candidates, and a token must also be past its expiry by as much:
   * a token still in use, or one written under a test's fake clock, is never swept. Resolves with
   * the number of files removed.
   */
  async sweepExpired(): Promise<number> {
    this.#assertOpen();
    const cutoff = Date.now() - SWEEP_AGE_MS;
    const isStale = async (path: string) => {
      const stats = await this.#fs.stat(path).catch(() => null);
      return stats !== null && stats.mtimeMs < cutoff;
    };
    let removed = 0;
    // An hour-old temp file is no write in progress (those take milliseconds): a crash left it.
    for (const dir of [this.#usersDir, this.#tokensDir, this.#ipDir, this.#unknownNamesDir]) {
      removed += await removeTempFiles(dir, Date.now() - TEMP_FILE_AGE_MS, this.#fs);
    }
    await mapLimit(await recordNames(this.#fs, this.#tokensDir), READ_CONCURRENCY, async (name) => {
      if (!(await isStale(this.#tokenPath(name)))) return;
      await this.#tokenLocks.run(name, async () => {
        const record = await this.#readToken(name, null);
        if (record && !(Date.parse(record.expiresAt) < cutoff)) return;
        if (await removeFileDurably(this.#tokenPath(name), this.#fs)) removed++;
      });
    });
    await mapLimit(await recordNames(this.#fs, this.#ipDir), READ_CONCURRENCY, async (name) => {
      // Failures that old are outside any lockout window a server would use.
      if (!(await isStale(this.#ipPath(name)))) return;
      await this.#ipLocks.run(name, async () => {
        if ((await isStale(this.#ipPath(name))) && (await removeFileDurably(this.#ipPath(name), this.#fs)))
          removed++;
      });
    });
    await mapLimit(await recordNames(this.#fs, this.#unknownNamesDir), READ_CONCURRENCY, async (name) => {
      const path = this.#unknownNamePath(name);
      // Only a name untouched for a day is read at all: a flood of new names leaves thousands of young ones.
      if (!(await isStale(path))) return;
      await this.#unknownNameLocks.run(name, async () => {
        if (!(await isStale(path))) return;
        // A name that was locked keeps its escalation for longer, as an account's lockout would.
        const lockout = (await this.#readUnknownName(name))?.lockout ?? OPEN_LOCKOUT;
        if (lockout.locks > 0 || lockout.needsAdminUnlock) {
          const stats = await this.#fs.stat(path).catch(() => null);
          if (!stats || Date.now() - stats.mtimeMs <= LOCKED_UNKNOWN_NAME_AGE_MS) return;
        }
        if (await removeFileDurably(path, this.#fs)) removed++;
      });
    });
    return removed;
  }

  // ---- OpenID Connect (delegated to ./lowdb-oidc.ts) ----

  listApplications(): Promise<ApplicationRecord[]> {
    this.#assertOpen();
    return this.#oidc.listApplications();
  }

  getApplication(id: string): Promise<ApplicationRecord | null> {
    this.#assertOpen();
    return this.#oidc.getApplication(id);
  }

  findApplicationByClientId(clientId: string): Promise<ApplicationRecord | null> {
    this.#assertOpen();
    return this.#oidc.findApplicationByClientId(clientId);
  }

  createApplication(application: ApplicationRecord): Promise<void> {
    this.#assertOpen();
    return this.#oidc.createApplication(application);
  }

  updateApplication(
    id: string,
    change: (application: ApplicationRecord) => ApplicationRecord,
  ): Promise<ApplicationRecord | null> {
    this.#assertOpen();
    return this.#oidc.updateApplication(id, change);
  }

  deleteApplication(id: string): Promise<ApplicationRecord | null> {
    this.#assertOpen();
    return this.#oidc.deleteApplication(id);
  }

  getOidcKeys(): Promise<OidcKeys | null> {
    this.#assertOpen();
    return this.#oidc.getOidcKeys();
  }

  updateOidcKeys(change: (current: OidcKeys | null) => OidcKeys | null): Promise<OidcKeys | null> {
    this.#assertOpen();
    return this.#oidc.updateOidcKeys(change);
  }

  oidcPut(model: string, id: string, payload: OidcPayload, expiresAt: number | null): Promise<void> {
    this.#assertOpen();
    return this.#oidc.oidcPut(model, id, payload, expiresAt);
  }

  oidcGet(model: string, id: string): Promise<OidcPayload | null> {
    this.#assertOpen();
    return this.#oidc.oidcGet(model, id);
  }

  oidcFindByUid(model: string, uid: string): Promise<OidcPayload | null> {
    this.#assertOpen();
    return this.#oidc.oidcFindByUid(model, uid);
  }

  oidcFindByUserCode(model: string, userCode: string): Promise<OidcPayload | null> {
    this.#assertOpen();
    return this.#oidc.oidcFindByUserCode(model, userCode);
  }

  oidcConsume(model: string, id: string, at: number): Promise<boolean> {
    this.#assertOpen();
    return this.#oidc.oidcConsume(model, id, at);
  }

  oidcDestroy(model: string, id: string): Promise<void> {
    this.#assertOpen();
    return this.#oidc.oidcDestroy(model, id);
  }

  oidcRevokeByGrantId(grantId: string): Promise<void> {
    this.#assertOpen();
    return this.#oidc.oidcRevokeByGrantId(grantId);
  }

  /** Removes expired provider records (runs by itself every few hundred writes). */
  sweepExpiredOidc(now?: number): Promise<number> {
    this.#assertOpen();
    return this.#oidc.sweepExpired(now);
  }

  #countWrite(): void {
    if (!this.#isOpen) return;
    this.#writesSinceSweep++;
    if (this.#writesSinceSweep < SWEEP_EVERY || this.#sweeping) return;
    this.#writesSinceSweep = 0;
    this.#sweeping = this.sweepExpired()
      .catch((error) => logError('sweep of expired files failed', error))
      .then(() => {
        this.#sweeping = null;
      });
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

  /** A damaged token file counts as no token (and is removed): a token that cannot be read grants nothing. */
  async #readToken(name: string, hash: string | null): Promise<TokenRecord | null> {
    try {
      const record = await this.#tokenFile(name).read();
      return record && (hash === null || record.hash === hash) ? record : null;
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      logError('token file unreadable, removed', error);
      await removeFileDurably(this.#tokenPath(name), this.#fs).catch(() => {});
      return null;
    }
  }

  /** A damaged failure file starts again from nothing rather than blocking sign-in for that address. */
  async #readIpFailures(name: string): Promise<string[]> {
    try {
      return (await this.#ipFile(name).read())?.failures ?? [];
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      logError('ip-failures file unreadable, starting again', error);
      return [];
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

  #userPath(id: string): string {
    return join(this.#usersDir, `${id}.json`);
  }

  #userFile(id: string): DurableJsonFile<UserRecord> {
    return new DurableJsonFile(this.#userPath(id), parseUser, this.#fs);
  }

  #tokenPath(name: string): string {
    return join(this.#tokensDir, `${name}.json`);
  }

  #tokenFile(name: string): DurableJsonFile<TokenRecord> {
    return new DurableJsonFile(this.#tokenPath(name), parseToken, this.#fs);
  }

  #ipPath(name: string): string {
    return join(this.#ipDir, `${name}.json`);
  }

  #ipFile(name: string): DurableJsonFile<IpFailures> {
    return new DurableJsonFile(this.#ipPath(name), parseIpFailures, this.#fs);
  }

  #unknownNamePath(name: string): string {
    return join(this.#unknownNamesDir, `${name}.json`);
  }

  #unknownNameFile(name: string): DurableJsonFile<UnknownName> {
    return new DurableJsonFile(this.#unknownNamePath(name), parseUnknownName, this.#fs);
  }

  /** A damaged file starts again from an open lockout, as a damaged address file does. */
  async #readUnknownName(name: string): Promise<UnknownName | null> {
    try {
      return await this.#unknownNameFile(name).read();
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      logError('unknown-names file unreadable, starting again', error);
      return null;
    }
  }

  #assertOpen(): void {
    if (!this.#isOpen) throw new Error('The store is not open: call open() first.');
  }
}

/** A token hash that is not already a safe file name (say, base64 with "/") is hashed into one. */
function tokenFileName(hash: string): string {
  return SAFE_NAME.test(hash) ? hash : sha256Hex(hash);
}

/** Hashed so the file name neither reveals the address nor depends on what characters it holds. */
function ipFileName(ip: string): string {
  return sha256Hex(ip);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The record names in a directory: `<name>.json`, leaving out temp files. */
function logError(msg: string, error: unknown): void {
  // The path and reason only: never a file's content, which may hold hashes or secrets.
  const path = error instanceof CorruptFileError ? error.path : undefined;
  console.error(JSON.stringify({ level: 'error', msg, path, error: String(error) }));
}

async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
