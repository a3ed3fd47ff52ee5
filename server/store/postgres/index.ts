/**
 * The PostgreSQL store: the same Store as lowdb, for any number of server instances on one
 * database. Every guarantee is the database's, not this process's: updateUser locks the user's row,
 * takeToken is one DELETE … RETURNING, lockouts, throttles, sessions and challenges are rows. Nothing
 * that matters is cached here (docs/ARCHITECTURE.md lists what each instance keeps in memory).
 *
 * One file per concern (users, tokens, addresses, audit, policy); this class only wires them.
 */
import type { AuditEvent, Policy } from '../../../shared/api';
import {
  type AuditQuery,
  type NewAuditEvent,
  type Store,
  StoreUnavailableError,
  type TokenRecord,
  type UserRecord,
} from '../types';
import { addIpFailure, countIpFailures, sweepIpFailures } from './addresses';
import { appendAudit, listAudit } from './audit';
import { Db, describeTarget, type PostgresOptions } from './db';
import { migrate } from './migrations';
import { getPolicy, setPolicy } from './policy';
import { deleteToken, deleteTokensOfUser, getToken, putToken, sweepTokens, takeToken } from './tokens';
import * as users from './users';

export type { PostgresOptions } from './db';

/** Token and address-failure writes (per instance) between two sweeps of abandoned rows. */
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

export class PostgresStore implements Store {
  readonly #options: PostgresOptions;
  readonly #log: (msg: string, error: unknown) => void;
  #db: Db | null = null;
  #writesSinceSweep = 0;
  #sweeping: Promise<void> | null = null;

  constructor(options: PostgresOptions, log: (msg: string, error: unknown) => void = logError) {
    this.#options = options;
    this.#log = log;
  }

  /** Connects and brings the schema up to date (under an advisory lock); refuses a newer schema. */
  async open(): Promise<void> {
    if (this.#db) return;
    const db = new Db(this.#options, (error) => this.#log('idle database connection lost', error));
    try {
      await migrate(db);
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
    return users.listUsers(this.#open());
  }

  async getUser(id: string): Promise<UserRecord | null> {
    return users.getUser(this.#open(), id);
  }

  async findUserByUsername(username: string): Promise<UserRecord | null> {
    return users.findUserByUsername(this.#open(), username);
  }

  async createUser(user: UserRecord): Promise<void> {
    return users.createUser(this.#open(), user);
  }

  /** Many users in one transaction, in order: for the migration from lowdb and the benchmark. */
  async createUsers(records: UserRecord[]): Promise<void> {
    return users.createUsers(this.#open(), records);
  }

  async updateUser<T>(
    id: string,
    change: (user: UserRecord) => { user: UserRecord | null; result: T },
  ): Promise<T | null> {
    return users.updateUser(this.#open(), id, change);
  }

  async deleteUser(id: string): Promise<boolean> {
    return users.deleteUser(this.#open(), id);
  }

  async putToken(token: TokenRecord): Promise<void> {
    await putToken(this.#open(), token);
    this.#countWrite();
  }

  async getToken(hash: string): Promise<TokenRecord | null> {
    return getToken(this.#open(), hash);
  }

  async takeToken(hash: string): Promise<TokenRecord | null> {
    return takeToken(this.#open(), hash);
  }

  async deleteToken(hash: string): Promise<void> {
    return deleteToken(this.#open(), hash);
  }

  async deleteTokensOfUser(userId: string): Promise<void> {
    return deleteTokensOfUser(this.#open(), userId);
  }

  async addIpFailure(ip: string, at: string): Promise<void> {
    await addIpFailure(this.#open(), ip, at);
    this.#countWrite();
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

  /**
   * Removes tombstones older than ten minutes, tokens abandoned for a day and address failures no one
   * wrote for a day. Safe to run from every instance at once: each is one DELETE.
   */
  async sweepExpired(): Promise<number> {
    const db = this.#open();
    return (await sweepTokens(db)) + (await sweepIpFailures(db));
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
