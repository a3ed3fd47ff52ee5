/**
 * The one storage interface of the server. Adapters: lowdb (embedded default, ./lowdb/, one
 * process) and PostgreSQL (./postgres/, any number of instances on one database).
 *
 * Every write is durable before its promise resolves: a success the server answers is on disk.
 */
import type { AuditEvent, AuditEventType, MfaType, Policy, Role } from '../../shared/api';

export interface BackupCodeRecord {
  number: number;
  /**
   * base64 of raw argon2id(code, set salt). Kept after the code is spent, so a second submission of
   * a code just used is recognised as such rather than counted as a wrong guess; null only in records
   * from before that (nothing left to match).
   */
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
  /**
   * Set by an admin's reset and for the generated first admin: until the user picks a password of
   * their own, their sessions may only read /api/me, change the password and sign out. Absent: false.
   */
  mustChangePassword?: boolean;
  /** The brake on guessing the password of this account. */
  passwordLockout: Lockout;
  /** The brake on guessing this account's MFA codes (authenticator and backup codes alike). */
  mfaLockout: Lockout;
}

/** Failed attempts at one secret of one account, and the lock they led to (services/throttle.ts). */
export interface Lockout {
  /** ISO times of the attempts inside the window: failures, and for the password, attempts in flight. */
  failures: string[];
  lockedUntil: string | null;
  /** Locks since the last success: each lasts twice the one before, up to a cap. */
  locks: number;
  /** Failures since the last success (NIST SP 800-63B 5.2.2). */
  consecutiveFailures: number;
  /** Too many consecutive failures: only an administrator's unlock opens the account again. */
  needsAdminUnlock: boolean;
}

export type TokenKind = 'session' | 'mfa';

/** The MFA step a session passed when it was opened: none (password only), a code, or an enrolment. */
export type SessionMfa = 'none' | 'totp' | 'backup_code' | 'enrolment';

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
  /** For sessions: the MFA step passed at sign-in; absent on sessions opened before it was recorded. */
  mfaPassed?: SessionMfa;
  /**
   * For MFA challenges: the fingerprint of the user's MFA record when the challenge was issued, so an
   * old challenge cannot act on an authenticator that changed since (an enrolment, a reset).
   */
  mfaFingerprint?: string | null;
}

export interface AuditQuery {
  limit: number;
  userId?: string;
  type?: AuditEventType;
}

export type NewAuditEvent = Omit<AuditEvent, 'id'>;

/** What a change of one user (Store.updateUser) returns. */
export interface UserChange<T> {
  /** The new record, or null to write nothing. */
  user: UserRecord | null;
  result: T;
  /**
   * Events committed with the record (one transaction, or one durable batch of writes): an attempt's
   * lockout and the audit event of its failure are written together, for the price of one commit.
   */
  audit?: NewAuditEvent[];
}

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

/**
 * The store cannot be reached (a database down, a connection lost, a timeout): nothing was changed
 * that the caller was told about, and trying again later may succeed. The app answers 503.
 */
export class StoreUnavailableError extends Error {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`The store is unavailable: ${reason}`, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * A stored record the whole server needs (not one account's) is damaged, e.g. the OpenID Connect key
 * set: the requests that need it get 503 until an operator restores it (`npm run store:check` says how).
 */
export class StoreDamagedError extends Error {
  constructor(
    readonly what: string,
    readonly reason: string,
  ) {
    super(`${what} is damaged: ${reason}`);
    this.name = 'StoreDamagedError';
  }
}

/** The change would leave no administrator: the store refused it and wrote nothing. */
export class LastAdminError extends Error {
  constructor() {
    super('This is the last administrator.');
    this.name = 'LastAdminError';
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

export interface Store extends OidcStore {
  /** Loads (or creates) the data; call once before anything else. */
  open(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the store can serve requests now; throws StoreUnavailableError when it cannot. */
  ping(): Promise<void>;

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
   * returns the new record, or null to write nothing, and the audit events that record the change.
   * Resolves with its result once the record and the events are durable; resolves null when the
   * user does not exist.
   */
  updateUser<T>(id: string, change: (user: UserRecord) => UserChange<T>): Promise<T | null>;
  deleteUser(id: string): Promise<boolean>;

  putToken(token: TokenRecord): Promise<void>;
  getToken(hash: string): Promise<TokenRecord | null>;
  /** Atomically removes the token and says whether it was there: a token dies at its first use. */
  takeToken(hash: string): Promise<TokenRecord | null>;
  deleteToken(hash: string): Promise<void>;
  /** Every token of the user, or only those of one kind (a new authenticator ends pending challenges). */
  deleteTokensOfUser(userId: string, kind?: TokenKind): Promise<void>;

  /**
   * Failures (and attempts in flight) per client address, kept across restarts (throttling password
   * spraying): those of `ip` at or after `since` (ISO); older ones may be pruned. Recorded by
   * reserveIpAttempt below.
   */
  countIpFailures(ip: string, since: string): Promise<number>;

  appendAudit(event: NewAuditEvent): Promise<AuditEvent>;
  /** Newest first. */
  listAudit(query: AuditQuery): Promise<AuditEvent[]>;

  // Guarded changes (issue #8): each check happens in the same lock or transaction as its change.
  // Another adapter must give each method the atomicity its comment states.

  /**
   * updateUser that throws LastAdminError, writing nothing, when the change would leave no
   * administrator. Atomicity: one transaction that locks every admin row (or one "admins" lock that
   * every demotion and admin deletion takes) before the user's row, then checks and writes, so two
   * admins demoting each other at once cannot both succeed.
   */
  updateUserKeepingAnAdmin<T>(id: string, change: (user: UserRecord) => UserChange<T>): Promise<T | null>;
  /** deleteUser that throws LastAdminError for the last administrator. Atomicity: as updateUserKeepingAnAdmin. */
  deleteUserKeepingAnAdmin(id: string): Promise<boolean>;
  /**
   * Reserves one attempt for a client address before any hashing: when `ip` has fewer than `limit`
   * attempts at or after `since`, records one at `at` and resolves true; otherwise records nothing and
   * resolves false. The reservation counts as a failure until releaseIpAttempt takes it back, so at
   * most `limit` attempts are ever judged or in flight per window. Atomicity: one transaction that
   * locks the address's row (or its attempt rows) while it counts and inserts.
   */
  reserveIpAttempt(ip: string, since: string, limit: number, at: string): Promise<boolean>;
  /**
   * Takes back one reservation of `ip` made at `at` (the attempt succeeded, or was refused before any
   * secret was judged). Atomicity: deletes one row under the address's lock; no-op when none is left.
   */
  releaseIpAttempt(ip: string, at: string): Promise<void>;
  /**
   * Resolves once the reservations of `ip` survive a restart: a failure keeps its reservation, and
   * is answered only after this. A store may make a reservation durable as it records it (a
   * transaction) or only here (lowdb: then the write joins the attempt's other writes in one batch).
   */
  keepIpAttempts(ip: string): Promise<void>;
  /**
   * The password lockout of a name no account has (compared as usernameKey), changed by `change`
   * under that name's lock and written durably, as updateUser does for an account's lockout: an
   * unknown name is reserved, refused and locked exactly like a known one, so that neither the answer
   * nor its timing tells whether the account exists. A name never seen starts from OPEN_LOCKOUT.
   * Only the name's SHA-256 is stored. Atomicity: one transaction under the name's lock.
   */
  updateUnknownNameLockout<T>(
    username: string,
    change: (lockout: Lockout) => { lockout: Lockout; result: T },
  ): Promise<T>;

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
   * the end. SQL: keyset pagination in an index on the append order (PostgreSQL: seq), the cursor
   * encoding the last row.
   */
  pageAudit(query: AuditQuery, cursor?: string): Promise<AuditPage>;

  /**
   * The events with from <= at < to, oldest first, streamed (an export may hold millions). SQL: read
   * through an index on at in bounded batches (PostgreSQL: keyset on (at, seq)) or a server-side cursor.
   */
  exportAudit(from: string, to: string): AsyncIterable<AuditEvent>;
}

// ---- OpenID Connect provider (server/oidc): applications, signing keys, the provider's records ----

export type ApplicationType = 'confidential' | 'public';

/** An application (OIDC client) an admin registered. */
export interface ApplicationRecord {
  id: string;
  /** The OAuth client_id: random, never reused. */
  clientId: string;
  name: string;
  type: ApplicationType;
  /** Exact URIs; an authorization request must name one of them character for character. */
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** SHA-256 (hex) of the client secret for confidential applications; the secret itself is never kept. */
  secretHash: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface OidcSigningKey {
  kid: string;
  /** The private JWK (RS256). */
  jwk: Record<string, unknown>;
  createdAt: string;
  /** Set when a newer key took over signing; the key stays published until its tokens expired. */
  retiredAt: string | null;
}

/** The keys every instance must share: token signing keys (newest first) and the cookie-signing secrets. */
export interface OidcKeys {
  signing: OidcSigningKey[];
  cookieSecrets: string[];
}

/** What oidc-provider stores for one of its models (Session, Grant, AuthorizationCode, AccessToken, …). */
export type OidcPayload = Record<string, unknown>;

/**
 * The part of the Store the OpenID Connect provider uses. A SQL implementation: one table of
 * applications (unique client_id), one row of keys, and one table of provider records keyed by
 * (model, id) with indexed uid, user_code and grant_id columns and an expires_at column.
 */
export interface OidcStore {
  listApplications(): Promise<ApplicationRecord[]>;
  getApplication(id: string): Promise<ApplicationRecord | null>;
  findApplicationByClientId(clientId: string): Promise<ApplicationRecord | null>;
  createApplication(application: ApplicationRecord): Promise<void>;
  /**
   * Read-modify-write of one application, one call at a time per application (SQL: SELECT … FOR
   * UPDATE in one transaction). Resolves with the stored record, or null when there is none.
   */
  updateApplication(
    id: string,
    change: (application: ApplicationRecord) => ApplicationRecord,
  ): Promise<ApplicationRecord | null>;
  /** Removes it; resolves with the removed record, or null when there was none. */
  deleteApplication(id: string): Promise<ApplicationRecord | null>;

  getOidcKeys(): Promise<OidcKeys | null>;
  /**
   * Atomic read-modify-write of the key set, so two instances starting together create one set and
   * two rotations do not lose a key (SQL: one row, SELECT … FOR UPDATE). `change` returns the new
   * set, or null to keep the current one. Resolves with the set stored afterwards.
   */
  updateOidcKeys(change: (current: OidcKeys | null) => OidcKeys | null): Promise<OidcKeys | null>;

  /**
   * Inserts or replaces the record (model, id). `expiresAt` (epoch ms) or null for no expiry. The
   * payload's `uid`, `userCode` and `grantId` are indexed for the finds below. `id` is often a bearer
   * value (an access token, a session cookie): store only a hash of it (SQL: the key column is
   * sha256(id)); the record's `jti` equals `id` and is given back by the reads.
   */
  oidcPut(model: string, id: string, payload: OidcPayload, expiresAt: number | null): Promise<void>;
  /** The payload, or null when missing or expired. */
  oidcGet(model: string, id: string): Promise<OidcPayload | null>;
  /** The unexpired record of `model` whose payload.uid is `uid` (Sessions). A found record has no `jti`. */
  oidcFindByUid(model: string, uid: string): Promise<OidcPayload | null>;
  /** The same by payload.userCode (device flow). */
  oidcFindByUserCode(model: string, userCode: string): Promise<OidcPayload | null>;
  /**
   * Marks the record consumed (payload.consumed = `at`, epoch seconds) if it exists, is unexpired and
   * was not consumed yet; true for exactly one caller (SQL: UPDATE … WHERE consumed IS NULL, check the
   * row count). This is what makes an authorization code work once under concurrent exchanges.
   */
  oidcConsume(model: string, id: string, at: number): Promise<boolean>;
  oidcDestroy(model: string, id: string): Promise<void>;
  /** Removes every record (codes, tokens, the grant itself) whose payload.grantId is `grantId`. */
  oidcRevokeByGrantId(grantId: string): Promise<void>;
}
