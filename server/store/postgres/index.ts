/**
 * The PostgreSQL store: the same Store as lowdb, for any number of server instances on one
 * database. Every guarantee is the database's, not this process's: updateUser locks the user's row,
 * takeToken is one DELETE … RETURNING, lockouts, throttles, sessions and challenges are rows. Nothing
 * that matters is cached here (docs/ARCHITECTURE.md lists what each instance keeps in memory).
 *
 * One file per concern (users, tokens, addresses, audit, policy, oidc); this class only wires them.
 */
import type { AuditEvent, Policy } from '../../../shared/api';
import { type StorageKeys, StoreSecrets } from '../secrets';
import {
  type ApplicationRecord,
  type AuditPage,
  type AuditQuery,
  type DamagedAccount,
  type Lockout,
  type NewAuditEvent,
  type OidcKeys,
  type OidcPayload,
  type Store,
  StoreUnavailableError,
  type TokenKind,
  type TokenRecord,
  type UserChange,
  type UserRecord,
} from '../types';
import { countIpFailures, releaseIpAttempt, reserveIpAttempt, sweepIpFailures } from './addresses';
import { appendAudit, exportAudit, listAudit, pageAudit } from './audit';
import { Db, describeTarget, type PostgresOptions } from './db';
import { migrate } from './migrations';
import * as oidc from './oidc';
import { getPolicy, setPolicy } from './policy';
import { establishKeyCheck, resealAll } from './storage-key';
import { deleteToken, deleteTokensOfUser, getToken, putToken, sweepTokens, takeToken } from './tokens';
import { sweepUnknownNames, updateUnknownNameLockout } from './unknown-names';
import * as users from './users';

export type { PostgresOptions } from './db';

/** Token, address-attempt and provider-record writes (per instance) between two sweeps of abandoned rows. */
const SWEEP_EVERY = 1000;

/** The database cannot be reached at start: the message names where it was looked for. */
export class DatabaseUnreachableError extends Error {
  constructor(target: string, reason: string) {
    super(
      `Cannot reach the database at ${target} (${reason}). Is PostgreSQL running there, and DATABASE_URL right?`,
    );
    this.name = 'DatabaseUnreachableError';
  }
}

export interface PostgresStoreOptions extends PostgresOptions {
  /**
   * The storage key (and, during a rekey, the previous one): TOTP secrets and the OIDC key set are
   * sealed under it. null (tests and tools that never meet a secret): values stay clear, and a store
   * that records a key refuses to open.
   */
  storageKeys?: StorageKeys | null;
}

export class PostgresStore implements Store {
  readonly #options: PostgresOptions;
  readonly #secrets: StoreSecrets;
  readonly #log: (msg: string, error: unknown) => void;
  #db: Db | null = null;
  #writesSinceSweep = 0;
  #sweeping: Promise<void> | null = null;

  constructor(options: PostgresStoreOptions, log: (msg: string, error: unknown) => void = logError) {
    this.#options = options;
    this.#secrets = new StoreSecrets(options.storageKeys ?? null);
    this.#log = log;
  }

  /**
   * Connects, brings the schema up to date (under an advisory lock; refuses a newer schema), checks
   * the storage key against the store's (refuses another), then seals what is not yet under it.
   */
  async open(): Promise<void> {
    if (this.#db) return;
    const db = new Db(this.#options, (error) => this.#log('idle database connection lost', error));
    try {
      await migrate(db);
      await establishKeyCheck(db, this.#secrets);
      if (this.#secrets.enabled) await resealAll(db, this.#secrets);
    } catch (error) {
      await db.end().catch(() => {});
      if (error instanceof StoreUnavailableError) {
        throw new DatabaseUnreachableError(describeTarget(this.#options.url), error.reason);
      }
      throw error;
    }
    this.#db = db;
  }

  async close(): Promise<void> {
    const db = this.#db;
    if (!db) return;
    this.#db = null;
    await this.#sweeping;
    await db.end();
  }

  async ping(): Promise<void> {
    await this.#open().query('SELECT 1');
  }

  async getPolicy(): Promise<Policy> {
    return getPolicy(this.#open());
  }

  async setPolicy(policy: Policy): Promise<void> {
    return setPolicy(this.#open(), policy);
  }

  async countUsers(): Promise<number> {
    return users.countUsers(this.#open());
  }

  async listAdminIds(): Promise<string[]> {
    return users.listAdminIds(this.#open());
  }

  async listUsers(): Promise<UserRecord[]> {
    return users.listUsers(this.#open(), this.#secrets);
  }

  async getUser(id: string): Promise<UserRecord | null> {
    return users.getUser(this.#open(), this.#secrets, id);
  }

  async findUserByUsername(username: string): Promise<UserRecord | null> {
    return users.findUserByUsername(this.#open(), this.#secrets, username);
  }

  async createUser(user: UserRecord): Promise<void> {
    return users.createUser(this.#open(), this.#secrets, user);
  }

  /** Many users in one transaction, in order: for the migration from lowdb and the benchmark. */
  async createUsers(records: UserRecord[]): Promise<void> {
    return users.createUsers(this.#open(), this.#secrets, records);
  }

  async updateUser<T>(id: string, change: (user: UserRecord) => UserChange<T>): Promise<T | null> {
    return users.updateUser(this.#open(), this.#secrets, id, change);
  }

  async deleteUser(id: string): Promise<boolean> {
    return users.deleteUser(this.#open(), id);
  }

  async updateUserKeepingAnAdmin<T>(
    id: string,
    change: (user: UserRecord) => UserChange<T>,
  ): Promise<T | null> {
    return users.updateUserKeepingAnAdmin(this.#open(), this.#secrets, id, change);
  }

  async deleteUserKeepingAnAdmin(id: string): Promise<boolean> {
    return users.deleteUserKeepingAnAdmin(this.#open(), id);
  }

  async putToken(token: TokenRecord): Promise<void> {
    await putToken(this.#open(), this.#secrets, token);
    this.#countWrite();
  }

  async getToken(hash: string): Promise<TokenRecord | null> {
    return getToken(this.#open(), this.#secrets, hash);
  }

  async takeToken(hash: string): Promise<TokenRecord | null> {
    return takeToken(this.#open(), this.#secrets, hash);
  }

  async deleteToken(hash: string): Promise<void> {
    return deleteToken(this.#open(), hash);
  }

  async deleteTokensOfUser(userId: string, kind?: TokenKind): Promise<void> {
    return deleteTokensOfUser(this.#open(), userId, kind);
  }

  async reserveIpAttempt(ip: string, since: string, limit: number, at: string): Promise<boolean> {
    const granted = await reserveIpAttempt(this.#open(), ip, since, limit, at);
    if (granted) this.#countWrite();
    return granted;
  }

  async releaseIpAttempt(ip: string, at: string): Promise<void> {
    return releaseIpAttempt(this.#open(), ip, at);
  }

  /** Nothing to wait for: reserveIpAttempt committed the reservation. */
  async keepIpAttempts(_ip: string): Promise<void> {
    this.#open();
  }

  async updateUnknownNameLockout<T>(
    username: string,
    change: (lockout: Lockout) => { lockout: Lockout; result: T },
  ): Promise<T> {
    const result = await updateUnknownNameLockout(this.#open(), username, change);
    this.#countWrite();
    return result;
  }

  async countIpFailures(ip: string, since: string): Promise<number> {
    return countIpFailures(this.#open(), ip, since);
  }

  async appendAudit(event: NewAuditEvent): Promise<AuditEvent> {
    return appendAudit(this.#open(), event);
  }

  async listAudit(query: AuditQuery): Promise<AuditEvent[]> {
    return listAudit(this.#open(), query);
  }

  async pageAudit(query: AuditQuery, cursor?: string): Promise<AuditPage> {
    return pageAudit(this.#open(), query, cursor);
  }

  exportAudit(from: string, to: string): AsyncIterable<AuditEvent> {
    return exportAudit(this.#open(), from, to);
  }

  /**
   * Always empty: PostgreSQL verifies its own pages (and, with data checksums on, refuses a damaged
   * one with an error, which is not one account's damage to report), so no row is half-readable.
   */
  async listDamaged(): Promise<DamagedAccount[]> {
    this.#open();
    return [];
  }

  // ---- OpenID Connect (./oidc.ts) ----

  async listApplications(): Promise<ApplicationRecord[]> {
    return oidc.listApplications(this.#open());
  }

  async getApplication(id: string): Promise<ApplicationRecord | null> {
    return oidc.getApplication(this.#open(), id);
  }

  async findApplicationByClientId(clientId: string): Promise<ApplicationRecord | null> {
    return oidc.findApplicationByClientId(this.#open(), clientId);
  }

  async createApplication(application: ApplicationRecord): Promise<void> {
    return oidc.createApplication(this.#open(), application);
  }

  async updateApplication(
    id: string,
    change: (application: ApplicationRecord) => ApplicationRecord,
  ): Promise<ApplicationRecord | null> {
    return oidc.updateApplication(this.#open(), id, change);
  }

  async deleteApplication(id: string): Promise<ApplicationRecord | null> {
    return oidc.deleteApplication(this.#open(), id);
  }

  async getOidcKeys(): Promise<OidcKeys | null> {
    return oidc.getOidcKeys(this.#open(), this.#secrets);
  }

  async updateOidcKeys(change: (current: OidcKeys | null) => OidcKeys | null): Promise<OidcKeys | null> {
    return oidc.updateOidcKeys(this.#open(), this.#secrets, change);
  }

  async oidcPut(model: string, id: string, payload: OidcPayload, expiresAt: number | null): Promise<void> {
    await oidc.oidcPut(this.#open(), model, id, payload, expiresAt);
    this.#countWrite();
  }

  async oidcGet(model: string, id: string): Promise<OidcPayload | null> {
    return oidc.oidcGet(this.#open(), model, id);
  }

  async oidcFindByUid(model: string, uid: string): Promise<OidcPayload | null> {
    return oidc.oidcFindByUid(this.#open(), model, uid);
  }

  async oidcFindByUserCode(model: string, userCode: string): Promise<OidcPayload | null> {
    return oidc.oidcFindByUserCode(this.#open(), model, userCode);
  }

  async oidcConsume(model: string, id: string, at: number): Promise<boolean> {
    return oidc.oidcConsume(this.#open(), model, id, at);
  }

  async oidcDestroy(model: string, id: string): Promise<void> {
    return oidc.oidcDestroy(this.#open(), model, id);
  }

  async oidcRevokeByGrantId(grantId: string): Promise<void> {
    return oidc.oidcRevokeByGrantId(this.#open(), grantId);
  }

  /**
   * Removes tombstones older than ten minutes, tokens abandoned for a day, address attempts no one
   * wrote for a day, unknown names no one tried for a day (30 once locked) and provider records expired for a day. Safe to run from every instance at once:
   * each is one DELETE.
   */
  async sweepExpired(): Promise<number> {
    const db = this.#open();
    return (
      (await sweepTokens(db)) +
      (await sweepIpFailures(db)) +
      (await sweepUnknownNames(db)) +
      (await oidc.sweepOidcRecords(db))
    );
  }

  /** What seals and opens this store's secrets: for `sparekey store rekey`. */
  get secrets(): StoreSecrets {
    return this.#secrets;
  }

  /** The connection pool, for tools that work beside the store (the migration from lowdb). */
  get db(): Db {
    return this.#open();
  }

  #countWrite(): void {
    this.#writesSinceSweep++;
    if (this.#writesSinceSweep < SWEEP_EVERY || this.#sweeping) return;
    this.#writesSinceSweep = 0;
    this.#sweeping = this.sweepExpired()
      .catch((error) => this.#log('sweep of expired rows failed', error))
      .then(() => {
        this.#sweeping = null;
      });
  }

  #open(): Db {
    if (!this.#db) throw new Error('The store is not open: call open() first.');
    return this.#db;
  }
}

function logError(msg: string, error: unknown): void {
  // The reason only: a database error never carries a secret of ours, but a URL might, so none is logged.
  console.error(JSON.stringify({ level: 'error', msg, error: String(error) }));
}
