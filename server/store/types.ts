/**
 * The one storage interface of the server. Adapters: lowdb (embedded default, ./lowdb.ts);
 * PostgreSQL follows behind the same interface for several instances.
 *
 * Every write is durable before its promise resolves: a success the server answers is on disk.
 */
import type { AuditEvent, AuditEventType, MfaType, Policy, Role } from '../../shared/api';

export interface BackupCodeRecord {
  number: number;
  /** base64 of raw argon2id(code, set salt); null once the code is spent (nothing left to match). */
  digest: string | null;
  usedAt: string | null;
}

export interface BackupCodeSet {
  id: string;
  /** base64 random salt shared by the whole set, so one attempt costs one argon2id evaluation. */
  salt: string;
  generatedAt: string;
  codes: BackupCodeRecord[];
}

export interface MfaRecord {
  type: MfaType;
  /** RFC 4648 base32 TOTP secret; null when type is none or enrolment has not begun. */
  secret: string | null;
  enrolled: boolean;
  /** The admin chose "configured later by the user": the user enrols at the next sign-in. */
  configureLater: boolean;
  /** The last accepted TOTP time step: a step once accepted is refused again. */
  lastStep: number | null;
}

export interface UserRecord {
  id: string;
  username: string;
  role: Role;
  passwordHash: string;
  createdAt: string;
  mfa: MfaRecord;
  backupCodes: BackupCodeSet | null;
  /** Failed MFA attempts (ISO times) inside the lockout window, and the lock's end if locked. */
  mfaFailures: string[];
  mfaLockedUntil: string | null;
}

export type TokenKind = 'session' | 'mfa';

/** A session or MFA challenge, keyed by the SHA-256 of its token: the token itself is never stored. */
export interface TokenRecord {
  hash: string;
  kind: TokenKind;
  userId: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  /** For MFA challenges that enrol: the pending TOTP secret, kept only until the first code proves it. */
  pendingSecret?: string | null;
}

export interface AuditQuery {
  limit: number;
  userId?: string;
  type?: AuditEventType;
}

export type NewAuditEvent = Omit<AuditEvent, 'id'>;

/** One page of audit events, newest first; `nextCursor` continues with older ones, null at the oldest kept. */
export interface AuditPage {
  events: AuditEvent[];
  nextCursor: string | null;
}

export class UsernameTakenError extends Error {
  constructor(username: string) {
    super(`Username ${username} is taken.`);
    this.name = 'UsernameTakenError';
  }
}

/** A page cursor this store did not hand out (or one mangled on the way). */
export class InvalidCursorError extends Error {
  constructor() {
    super('The cursor is not one this server handed out.');
    this.name = 'InvalidCursorError';
  }
}

/** An account whose stored record cannot be read: what the index still knows of it, and why. */
export interface DamagedAccount {
  id: string;
  username: string;
  role: Role;
  /** What is wrong, for the admin: "empty (zero bytes)", "checksum mismatch", "the file is missing"... */
  reason: string;
}

/**
 * Thrown by reads of a damaged account: the app answers that account's requests 503
 * (account_damaged) while every other account works, and an admin can still delete it.
 */
export class DamagedAccountError extends Error {
  constructor(
    readonly account: DamagedAccount,
    options?: { cause: unknown },
  ) {
    super(`The stored record of account ${account.username} is damaged: ${account.reason}.`, options);
    this.name = 'DamagedAccountError';
  }
}

export interface Store {
  /** Loads (or creates) the data; call once before anything else. */
  open(): Promise<void>;
  close(): Promise<void>;

  getPolicy(): Promise<Policy>;
  setPolicy(policy: Policy): Promise<void>;

  countUsers(): Promise<number>;
  /** The ids of the admin accounts, without reading every user (the last-admin guard asks on each delete). */
  listAdminIds(): Promise<string[]>;
  listUsers(): Promise<UserRecord[]>;
  getUser(id: string): Promise<UserRecord | null>;
  /** Case-insensitive: "Alice" and "alice" are one account. */
  findUserByUsername(username: string): Promise<UserRecord | null>;
  /** Throws UsernameTakenError when the name (case-insensitively) is in use. */
  createUser(user: UserRecord): Promise<void>;
  /**
   * Reads, changes and writes one user atomically: calls for the same user run one at a time, so
   * `change` sees the latest record (this is what makes spending a code exactly-once). `change`
   * returns the new record, or null to write nothing. Resolves with what `change` returned, once
   * durable; resolves null when the user does not exist.
   */
  updateUser<T>(
    id: string,
    change: (user: UserRecord) => { user: UserRecord | null; result: T },
  ): Promise<T | null>;
  deleteUser(id: string): Promise<boolean>;

  putToken(token: TokenRecord): Promise<void>;
  getToken(hash: string): Promise<TokenRecord | null>;
  /** Atomically removes the token and says whether it was there: a token dies at its first use. */
  takeToken(hash: string): Promise<TokenRecord | null>;
  deleteToken(hash: string): Promise<void>;
  deleteTokensOfUser(userId: string): Promise<void>;

  /** Failures per client address, kept across restarts (throttling password spraying). */
  addIpFailure(ip: string, at: string): Promise<void>;
  /** The failures of `ip` at or after `since` (ISO); older ones may be pruned. */
  countIpFailures(ip: string, since: string): Promise<number>;

  appendAudit(event: NewAuditEvent): Promise<AuditEvent>;
  /** Newest first. */
  listAudit(query: AuditQuery): Promise<AuditEvent[]>;

  // --- Damage and backups (issue #11) ---------------------------------------------------------
  // What an operator needs to run the store for years. An SQL adapter meets each with its own means.

  /**
   * The accounts known to be damaged. A damaged account must never take the server down nor block
   * another account: reads of it throw DamagedAccountError, deleteUser still removes it, and
   * createUser of its name stays refused until it is deleted (its name is still taken).
   * lowdb: a user file that is missing, empty, not JSON, of the wrong shape or failing its checksum,
   * found by any read of it (the server verifies every user file in the background after start,
   * and listUsers reads them all). SQL: rows the database cannot return (normally none: its pages
   * carry their own checksums); an implementation may return [].
   */
  listDamaged(): Promise<DamagedAccount[]>;

  /**
   * One page of the audit log, newest first, continuing from `cursor` (opaque, from the previous
   * page; an invalid one throws InvalidCursorError). A page may hold fewer than `limit` events while
   * older ones exist (lowdb reads one rotated file at most per page): only a null nextCursor means
   * the end. SQL: keyset pagination on (at, id) in an index, the cursor encoding the last row.
   */
  pageAudit(query: AuditQuery, cursor?: string): Promise<AuditPage>;

  /**
   * The events with from <= at < to, oldest first, streamed (an export may hold millions). SQL: one
   * query on the at index, read with a server-side cursor.
   */
  exportAudit(from: string, to: string): AsyncIterable<AuditEvent>;
}
