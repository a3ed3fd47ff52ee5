/**
 * The embedded store: lowdb files under DATA_DIR, laid out so that the cost of a write does not grow
 * with the number of users.
 *
 *   key-check.json           the storage key's id (and, during a rekey, the previous key): ./key-check.ts
 *   storage.key              the generated storage key of a newcomer's install (server/storage-key.ts)
 *   policy.json              the admin policy (cached in memory)
 *   index.json, index.jsonl  the user index: snapshot + journal of changes (./user-index.ts, ./users.ts)
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
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AuditEvent, Policy } from '../../../shared/api';
import type { StorageKey } from '../../crypto/sealing';
import type { BackupCounts, BackupItem } from '../backup';
import { nodeFs, type StoreFs, syncDirectory } from '../fs';
import { type StorageKeys, StoreSecrets } from '../secrets';
import type {
  ApplicationRecord,
  AuditPage,
  AuditQuery,
  DamagedAccount,
  Lockout,
  NewAuditEvent,
  OidcKeys,
  OidcPayload,
  Store,
  TokenKind,
  TokenRecord,
  UserChange,
  UserRecord,
} from '../types';
import { LowdbAddresses } from './addresses';
import { AuditLog, type AuditLogOptions } from './audit-log';
import { type BackupParts, exportBackup, importBackup } from './backup-records';
import { lockDirectory } from './dir-lock';
import { removeTempFiles } from './durable-json-file';
import { LowdbKeyCheck } from './key-check';
import { LowdbOidcStore } from './oidc';
import { LowdbPolicy } from './policy';
import { logError, SWEEP_AGE_MS } from './record-files';
import { LowdbTokens } from './tokens';
import { LowdbUnknownNames } from './unknown-names';
import { LowdbUsers, type LowdbUsersOptions } from './users';

export { CorruptFileError } from './durable-json-file';
export { IndexUnreadableError } from './user-index';

export interface LowdbStoreOptions extends LowdbUsersOptions {
  /** Audit lines indexed per user and per event type (default 500, the API's largest page). */
  auditIndexDepth?: number;
  /**
   * Read every user file in the background after open, so damage shows in listDamaged (and
   * /healthz) before anyone signs in (default false; the server turns it on).
   */
  verifyUsersOnOpen?: boolean;
  /** The file system (node's by default; the power-loss test passes a recorder). */
  fs?: StoreFs;
  /**
   * The storage key (docs/SECURITY.md, "Secrets at rest"): TOTP secrets and the OIDC key set are
   * sealed under it. null (tests and tools that never meet a secret): values stay clear, and a
   * store that records a key refuses to open.
   */
  storageKeys?: StorageKeys | null;
  /** Audit retention: rotation size, and how long / how many rotated files are kept (./audit-log.ts). */
  audit?: Pick<AuditLogOptions, 'rotateBytes' | 'retentionDays' | 'retentionFiles' | 'now'>;
}

/** Token and address-failure writes between two sweeps of abandoned files. */
const SWEEP_EVERY = 1000;
const TEMP_FILE_AGE_MS = 60 * 60_000;

/** One module per concern (users, tokens, addresses, unknown names, policy, audit, oidc); this class wires them. */
export class LowdbStore implements Store {
  readonly #dir: string;
  readonly #fs: StoreFs;
  #unlock: () => Promise<void> = async () => {};
  readonly #policy: LowdbPolicy;
  readonly #users: LowdbUsers;
  readonly #tokens: LowdbTokens;
  readonly #addresses: LowdbAddresses;
  readonly #unknownNames: LowdbUnknownNames;
  readonly #audit: AuditLog;
  /** The OpenID Connect provider's data, in DATA_DIR/oidc (./oidc.ts). */
  readonly #oidc: LowdbOidcStore;
  readonly #verifyOnOpen: boolean;
  readonly #secrets: StoreSecrets;
  readonly #keyCheck: LowdbKeyCheck;
  #verifying: Promise<unknown> | null = null;
  #isOpen = false;
  #writesSinceSweep = 0;
  #sweeping: Promise<void> | null = null;

  constructor(dataDir: string, options: LowdbStoreOptions = {}) {
    this.#dir = dataDir;
    this.#fs = options.fs ?? nodeFs;
    this.#secrets = new StoreSecrets(options.storageKeys ?? null);
    this.#keyCheck = new LowdbKeyCheck(dataDir, this.#fs, this.#secrets);
    const sealing = { secrets: this.#secrets, keyId: () => this.#keyCheck.keyId };
    this.#policy = new LowdbPolicy(dataDir, this.#fs);
    this.#tokens = new LowdbTokens(dataDir, this.#fs, sealing);
    this.#users = new LowdbUsers(
      dataDir,
      this.#fs,
      options,
      {
        deleteTokensOfUser: (userId) => this.deleteTokensOfUser(userId),
        appendAudit: (event) => this.appendAudit(event),
      },
      sealing,
    );
    this.#addresses = new LowdbAddresses(dataDir, this.#fs);
    this.#unknownNames = new LowdbUnknownNames(dataDir, this.#fs);
    this.#audit = new AuditLog(join(dataDir, 'audit.jsonl'), {
      ...options.audit,
      indexDepth: options.auditIndexDepth,
      fs: this.#fs,
    });
    this.#oidc = new LowdbOidcStore(dataDir, this.#fs, sealing);
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
    for (const dir of [this.#dir, ...this.#recordDirs()]) {
      await this.#fs.mkdir(dir, { recursive: true, mode: 0o700 });
    }
    await syncDirectory(this.#fs, this.#dir);
    this.#unlock = await lockDirectory(this.#dir, this.#fs);
    // Only the top directory here: listing 100,000 user files would slow every start. Temp files in
    // the record directories are never read (their names are not <id>.json) and the sweep removes them.
    await removeTempFiles(this.#dir, undefined, this.#fs);
    try {
      // First: a key the store does not know refuses here, before anything is written.
      const resealing = await this.#keyCheck.open();
      await this.#policy.read();
      await this.#users.load();
      try {
        await this.#audit.open();
        await this.#oidc.open();
        // Clear values (the first start with a key) or an interrupted rekey: sealed now, durably.
        if (resealing) await this.#resealAll();
      } catch (error) {
        await this.#users.close();
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

  /** Every sealed value under the current key, then the key check says so (forgetting a previous key). */
  async #resealAll(): Promise<number> {
    const rewritten = (await this.#users.resealAll()) + Number(await this.#oidc.resealKeys());
    // Enrolment challenges are dropped rather than re-sealed (./tokens.ts says why); before the
    // check completes, so a rekey cut short drops them at the next open.
    const keyId = this.#keyCheck.keyId;
    if (keyId !== null) await this.#tokens.dropPendingNotUnder(keyId);
    await this.#keyCheck.complete();
    return rewritten;
  }

  /**
   * `sparekey store rekey` (server stopped; this process holds the directory lock): commits the new
   * key in one write of the key check, then re-seals every value. Interrupted, the store opens with
   * the new key and its open finishes the re-sealing. Resolves with how many files were rewritten.
   */
  async rekey(next: StorageKey, old: StorageKey): Promise<number> {
    this.#assertOpen();
    if (this.#keyCheck.keyId !== next.id) await this.#keyCheck.switchTo(next, old);
    return this.#resealAll();
  }

  async close(): Promise<void> {
    if (!this.#isOpen) return;
    this.#isOpen = false;
    await this.#verifying;
    await Promise.all([
      this.#users.idle(),
      this.#tokens.idle(),
      this.#addresses.idle(),
      this.#unknownNames.idle(),
      this.#policy.idle(),
      this.#sweeping,
      this.#oidc.close(),
    ]);
    await this.#addresses.writeUnwritten();
    await this.#users.close();
    await this.#audit.close();
    await this.#unlock();
  }

  /** Files on the local disk: open means reachable. */
  async ping(): Promise<void> {
    this.#assertOpen();
  }

  async getPolicy(): Promise<Policy> {
    this.#assertOpen();
    return this.#policy.getPolicy();
  }

  async setPolicy(policy: Policy): Promise<void> {
    this.#assertOpen();
    await this.#policy.setPolicy(policy);
  }

  // ---- Users (./users.ts) ----

  async countUsers(): Promise<number> {
    this.#assertOpen();
    return this.#users.size;
  }

  async listAdminIds(): Promise<string[]> {
    this.#assertOpen();
    return this.#users.listAdminIds();
  }

  /** Every user in creation order; a user whose file is damaged is left out and listed by listDamaged. */
  async listUsers(): Promise<UserRecord[]> {
    this.#assertOpen();
    return this.#users.listUsers();
  }

  async listDamaged(): Promise<DamagedAccount[]> {
    this.#assertOpen();
    return this.#users.listDamaged();
  }

  /**
   * Reads every indexed user file (a few at a time, each under its user's lock) and returns the
   * damaged ones; what it finds shows in listDamaged.
   */
  async verifyUsers(): Promise<DamagedAccount[]> {
    return this.#users.verifyUsers(() => this.#isOpen);
  }

  /** Null for an unknown id; throws DamagedAccountError when the user's file is damaged or missing. */
  async getUser(id: string): Promise<UserRecord | null> {
    this.#assertOpen();
    return this.#users.getUser(id);
  }

  async findUserByUsername(username: string): Promise<UserRecord | null> {
    this.#assertOpen();
    return this.#users.findUserByUsername(username);
  }

  async createUser(user: UserRecord): Promise<void> {
    this.#assertOpen();
    await this.#users.createUser(user);
  }

  async updateUser<T>(id: string, change: (user: UserRecord) => UserChange<T>): Promise<T | null> {
    this.#assertOpen();
    return this.#users.updateUser(id, change);
  }

  async updateUserKeepingAnAdmin<T>(
    id: string,
    change: (user: UserRecord) => UserChange<T>,
  ): Promise<T | null> {
    this.#assertOpen();
    return this.#users.updateUserKeepingAnAdmin(id, change);
  }

  async deleteUser(id: string): Promise<boolean> {
    this.#assertOpen();
    return this.#users.deleteUser(id);
  }

  async deleteUserKeepingAnAdmin(id: string): Promise<boolean> {
    this.#assertOpen();
    return this.#users.deleteUserKeepingAnAdmin(id);
  }

  /**
   * Puts back one account from a backup: only one that is damaged or gone, since rolling a healthy
   * account back would make its spent codes work again. Refuses when its name now belongs to
   * another account.
   */
  async restoreUser(user: UserRecord): Promise<'replaced' | 'created'> {
    this.#assertOpen();
    return this.#users.restoreUser(user);
  }

  // ---- Sessions and challenges (./tokens.ts) ----

  async putToken(token: TokenRecord): Promise<void> {
    this.#assertOpen();
    await this.#tokens.putToken(token);
    this.#countWrite();
  }

  /** The token as stored, expired or not (./tokens.ts says why). */
  async getToken(hash: string): Promise<TokenRecord | null> {
    this.#assertOpen();
    return this.#tokens.getToken(hash);
  }

  async takeToken(hash: string): Promise<TokenRecord | null> {
    this.#assertOpen();
    return this.#tokens.takeToken(hash);
  }

  async deleteToken(hash: string): Promise<void> {
    this.#assertOpen();
    await this.#tokens.deleteToken(hash);
  }

  async deleteTokensOfUser(userId: string, kind?: TokenKind): Promise<void> {
    this.#assertOpen();
    await this.#tokens.deleteTokensOfUser(userId, kind);
  }

  // ---- Client addresses and unknown names (./addresses.ts, ./unknown-names.ts) ----

  async reserveIpAttempt(ip: string, since: string, limit: number, at: string): Promise<boolean> {
    this.#assertOpen();
    const granted = await this.#addresses.reserveIpAttempt(ip, since, limit, at);
    if (granted) this.#countWrite();
    return granted;
  }

  async releaseIpAttempt(ip: string, at: string): Promise<void> {
    this.#assertOpen();
    await this.#addresses.releaseIpAttempt(ip, at);
  }

  async keepIpAttempts(ip: string): Promise<void> {
    this.#assertOpen();
    await this.#addresses.keepIpAttempts(ip);
  }

  /** Counts the failures at or after `since`, and prunes the older ones of this address. */
  async countIpFailures(ip: string, since: string): Promise<number> {
    this.#assertOpen();
    return this.#addresses.countIpFailures(ip, since);
  }

  async updateUnknownNameLockout<T>(
    username: string,
    change: (lockout: Lockout) => { lockout: Lockout; result: T },
  ): Promise<T> {
    this.#assertOpen();
    const result = await this.#unknownNames.updateUnknownNameLockout(username, change);
    this.#countWrite();
    return result;
  }

  // ---- Audit (./audit-log.ts) ----

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

  async pageAudit(query: AuditQuery, cursor?: string): Promise<AuditPage> {
    this.#assertOpen();
    return this.#audit.page(query, cursor);
  }

  exportAudit(from: string, to: string): AsyncIterable<AuditEvent> {
    this.#assertOpen();
    return this.#audit.range(from, to);
  }

  // ---- Backups (./backup-records.ts) ----

  /** The store's records for a backup, read while the server runs (./backup-records.ts). */
  async *exportBackup(): AsyncGenerator<BackupItem> {
    this.#assertOpen();
    yield* exportBackup(this.#parts());
  }

  /** Replays a backup into this store, which must be empty (no account, audit event, application or key). */
  async importBackup(items: AsyncIterable<BackupItem>): Promise<BackupCounts> {
    this.#assertOpen();
    return importBackup(this.#parts(), items);
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
    let removed = 0;
    // An hour-old temp file is no write in progress (those take milliseconds): a crash left it.
    for (const dir of this.#recordDirs()) {
      removed += await removeTempFiles(dir, Date.now() - TEMP_FILE_AGE_MS, this.#fs);
    }
    removed += await this.#tokens.sweep(cutoff);
    removed += await this.#addresses.sweep(cutoff);
    removed += await this.#unknownNames.sweep(cutoff);
    return removed;
  }

  // ---- OpenID Connect (delegated to ./oidc.ts) ----

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

  /** The directories of one-file-per-record concerns, created at open and swept of temp files. */
  #recordDirs(): string[] {
    return [this.#users.dir, this.#tokens.dir, this.#addresses.dir, this.#unknownNames.dir];
  }

  #parts(): BackupParts {
    return {
      dir: this.#dir,
      policy: this.#policy,
      users: this.#users,
      audit: this.#audit,
      oidc: this.#oidc,
      sealing: { secrets: this.#secrets, keyId: () => this.#keyCheck.keyId },
    };
  }

  #assertOpen(): void {
    if (!this.#isOpen) throw new Error('The store is not open: call open() first.');
  }
}
