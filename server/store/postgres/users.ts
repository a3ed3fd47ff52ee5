/**
 * Users, their backup-code sets and codes. The mapping between UserRecord and the rows lives here
 * and only here: `userFromRow` reads one, `writeUser`/`writeChange` write one.
 */
import type { MfaType, Role } from '../../../shared/api';
import { UserRecordSchema } from '../records';
import type { StoreSecrets } from '../secrets';
import {
  type BackupCodeSet,
  LastAdminError,
  type Lockout,
  StoreUnavailableError,
  type UserChange,
  UsernameTakenError,
  type UserRecord,
} from '../types';
import { appendEvents } from './audit';
import { type Db, type Queryable, sqlState, violatedConstraint } from './db';
import { sealingKeyId } from './storage-key';
import { deleteTokensOfUser } from './tokens';

/**
 * One user with their set and its codes, read by one statement (one snapshot): the view of migration
 * 008, which sparekey_lock_user also reads, so the record has one shape whichever way it is read.
 */
const SELECT_USERS = 'SELECT * FROM user_records u';

/** The columns of one Lockout: `mfa_…` or `password_…`. */
interface LockoutRow {
  failures: Date[];
  locked_until: Date | null;
  locks: number;
  consecutive_failures: number;
  needs_admin_unlock: boolean;
}

type Prefixed<P extends string> = { [K in keyof LockoutRow as `${P}_${K}`]: LockoutRow[K] };

type UserRow = Prefixed<'mfa'> &
  Prefixed<'password'> & {
    id: string;
    username: string;
    role: Role;
    password_hash: string;
    created_at: Date;
    mfa_type: MfaType;
    totp_secret: string | null;
    mfa_enrolled: boolean;
    mfa_configure_later: boolean;
    /** bigint arrives as a string. */
    totp_last_step: string | null;
    must_change_password: boolean | null;
    set_id: string | null;
    salt: string | null;
    generated_at: Date | null;
    /** json: times as text with an offset. */
    codes: { number: number; digest: string | null; usedAt: string | null }[] | null;
  };

const iso = (time: Date | string) => new Date(time).toISOString();
const isoOrNull = (time: Date | string | null) => (time === null ? null : iso(time));

function lockoutFromRow(row: UserRow, prefix: 'mfa' | 'password'): Lockout {
  const r = row as unknown as Record<string, unknown>;
  return {
    failures: (r[`${prefix}_failures`] as Date[]).map(iso),
    lockedUntil: isoOrNull(r[`${prefix}_locked_until`] as Date | null),
    locks: r[`${prefix}_locks`] as number,
    consecutiveFailures: r[`${prefix}_consecutive_failures`] as number,
    needsAdminUnlock: r[`${prefix}_needs_admin_unlock`] as boolean,
  };
}

function userFromRow(row: UserRow, secrets: StoreSecrets): UserRecord {
  const backupCodes: BackupCodeSet | null =
    row.set_id === null || row.salt === null || row.generated_at === null
      ? null
      : {
          id: row.set_id,
          salt: row.salt,
          generatedAt: iso(row.generated_at),
          codes: (row.codes ?? []).map((code) => ({
            number: code.number,
            digest: code.digest,
            usedAt: isoOrNull(code.usedAt),
          })),
        };
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    passwordHash: row.password_hash,
    createdAt: iso(row.created_at),
    mfa: {
      type: row.mfa_type,
      secret: secrets.openTotp(row, row.totp_secret),
      enrolled: row.mfa_enrolled,
      configureLater: row.mfa_configure_later,
      lastStep: row.totp_last_step === null ? null : Number(row.totp_last_step),
    },
    backupCodes,
    // Absent when the record never said, as it was written.
    ...(row.must_change_password === null ? {} : { mustChangePassword: row.must_change_password }),
    passwordLockout: lockoutFromRow(row, 'password'),
    mfaLockout: lockoutFromRow(row, 'mfa'),
  };
}

/**
 * The users row's columns after id: name, SQL type (an array column is `timestamptz[]`) and the
 * value from the record. One list, so a column, its cast and its value cannot fall out of step.
 */
interface UserColumn {
  name: string;
  type: 'text' | 'timestamptz' | 'boolean' | 'bigint' | 'integer' | 'timestamptz[]';
  value: (user: UserRecord) => unknown;
}

const lockoutColumns = (prefix: 'mfa' | 'password', of: (user: UserRecord) => Lockout): UserColumn[] => [
  { name: `${prefix}_failures`, type: 'timestamptz[]', value: (u) => of(u).failures },
  { name: `${prefix}_locked_until`, type: 'timestamptz', value: (u) => of(u).lockedUntil },
  { name: `${prefix}_locks`, type: 'integer', value: (u) => of(u).locks },
  { name: `${prefix}_consecutive_failures`, type: 'integer', value: (u) => of(u).consecutiveFailures },
  { name: `${prefix}_needs_admin_unlock`, type: 'boolean', value: (u) => of(u).needsAdminUnlock },
];

const USER_COLUMNS: UserColumn[] = [
  { name: 'username', type: 'text', value: (u) => u.username },
  { name: 'role', type: 'text', value: (u) => u.role },
  { name: 'password_hash', type: 'text', value: (u) => u.passwordHash },
  { name: 'created_at', type: 'timestamptz', value: (u) => u.createdAt },
  { name: 'mfa_type', type: 'text', value: (u) => u.mfa.type },
  { name: 'totp_secret', type: 'text', value: (u) => u.mfa.secret },
  { name: 'mfa_enrolled', type: 'boolean', value: (u) => u.mfa.enrolled },
  { name: 'mfa_configure_later', type: 'boolean', value: (u) => u.mfa.configureLater },
  { name: 'totp_last_step', type: 'bigint', value: (u) => u.mfa.lastStep },
  { name: 'must_change_password', type: 'boolean', value: (u) => u.mustChangePassword ?? null },
  ...lockoutColumns('password', (u) => u.passwordLockout),
  ...lockoutColumns('mfa', (u) => u.mfaLockout),
];

const COLUMN_NAMES = USER_COLUMNS.map((column) => column.name).join(', ');

/** The record's values, clear: what writeChange compares (a sealed value differs at every seal). */
function userValues(user: UserRecord): unknown[] {
  return USER_COLUMNS.map((column) => column.value(user));
}

const TOTP_COLUMN = USER_COLUMNS.findIndex((column) => column.name === 'totp_secret');

/** The values as stored: the TOTP secret sealed under the key the store names (read in this transaction). */
async function storedValues(
  tx: Queryable,
  secrets: StoreSecrets,
  user: UserRecord,
  values: unknown[],
): Promise<unknown[]> {
  const secret = values[TOTP_COLUMN] as string | null;
  if (secret === null || !secrets.enabled) return values;
  const stored = [...values];
  stored[TOTP_COLUMN] = secrets.sealTotp(await sealingKeyId(tx), user.id, secret);
  return stored;
}

/** Refuses a record that is not a UserRecord, as the lowdb store does before writing. */
function checked(user: UserRecord): UserRecord {
  return UserRecordSchema.parse(user) as UserRecord;
}

function takenOrThrow(error: unknown, user: UserRecord): never {
  if (sqlState(error) === '23505' && violatedConstraint(error) === 'users_username_lower') {
    throw new UsernameTakenError(user.username);
  }
  if (sqlState(error) === '23505' && violatedConstraint(error) === 'users_pkey') {
    throw new Error(`A user with id ${user.id} already exists.`);
  }
  throw error;
}

async function insertSet(tx: Queryable, userId: string, set: BackupCodeSet): Promise<void> {
  await tx.query(
    'INSERT INTO backup_code_sets (user_id, set_id, salt, generated_at) VALUES ($1, $2, $3, $4)',
    [userId, set.id, set.salt, set.generatedAt],
  );
  if (set.codes.length === 0) return;
  await tx.query(
    `INSERT INTO backup_codes (user_id, number, digest, used_at)
     SELECT $1, * FROM unnest($2::integer[], $3::text[], $4::timestamptz[])`,
    [
      userId,
      set.codes.map((code) => code.number),
      set.codes.map((code) => code.digest),
      set.codes.map((code) => code.usedAt),
    ],
  );
}

/** Inserts a whole record (row, set, codes) inside the caller's transaction. */
async function insertUser(tx: Queryable, secrets: StoreSecrets, user: UserRecord): Promise<void> {
  const placeholders = USER_COLUMNS.map((column, i) => `$${i + 2}::${column.type}`).join(', ');
  try {
    await tx.query(`INSERT INTO users (id, ${COLUMN_NAMES}) VALUES ($1, ${placeholders})`, [
      user.id,
      ...(await storedValues(tx, secrets, user, userValues(user))),
    ]);
  } catch (error) {
    takenOrThrow(error, user);
  }
  if (user.backupCodes) await insertSet(tx, user.id, user.backupCodes);
}

/** Writes only what changed between `before` and `after`: spending a code changes one backup_codes row. */
async function writeChange(
  tx: Queryable,
  secrets: StoreSecrets,
  before: UserRecord,
  after: UserRecord,
): Promise<void> {
  const old = userValues(before);
  const clear = userValues(after);
  const changed = USER_COLUMNS.flatMap((_, i) =>
    JSON.stringify(old[i]) === JSON.stringify(clear[i]) ? [] : [i],
  );
  if (changed.length > 0) {
    // Sealed only when the secret itself changes: a sign-in's write never touches it.
    const next = changed.includes(TOTP_COLUMN) ? await storedValues(tx, secrets, after, clear) : clear;
    const sets = changed
      .map((i, n) => `${USER_COLUMNS[i]?.name} = $${n + 2}::${USER_COLUMNS[i]?.type}`)
      .join(', ');
    try {
      await tx.query(`UPDATE users SET ${sets} WHERE id = $1`, [after.id, ...changed.map((i) => next[i])]);
    } catch (error) {
      takenOrThrow(error, after);
    }
  }

  const was = before.backupCodes;
  const now = after.backupCodes;
  if (was && (!now || now.id !== was.id || now.salt !== was.salt || now.generatedAt !== was.generatedAt)) {
    await tx.query('DELETE FROM backup_code_sets WHERE user_id = $1', [after.id]);
    if (now) await insertSet(tx, after.id, now);
    return;
  }
  if (!was) {
    if (now) await insertSet(tx, after.id, now);
    return;
  }
  if (!now) return;
  const oldCodes = new Map(was.codes.map((code) => [code.number, code]));
  const newNumbers = new Set(now.codes.map((code) => code.number));
  for (const code of now.codes) {
    const prior = oldCodes.get(code.number);
    if (!prior) {
      await tx.query('INSERT INTO backup_codes (user_id, number, digest, used_at) VALUES ($1, $2, $3, $4)', [
        after.id,
        code.number,
        code.digest,
        code.usedAt,
      ]);
    } else if (prior.digest !== code.digest || prior.usedAt !== code.usedAt) {
      await tx.query('UPDATE backup_codes SET digest = $3, used_at = $4 WHERE user_id = $1 AND number = $2', [
        after.id,
        code.number,
        code.digest,
        code.usedAt,
      ]);
    }
  }
  const gone = was.codes.map((code) => code.number).filter((number) => !newNumbers.has(number));
  if (gone.length > 0) {
    await tx.query('DELETE FROM backup_codes WHERE user_id = $1 AND number = ANY($2::integer[])', [
      after.id,
      gone,
    ]);
  }
}

export async function getUser(db: Queryable, secrets: StoreSecrets, id: string): Promise<UserRecord | null> {
  const [row] = await db.query<UserRow>(`${SELECT_USERS} WHERE u.id = $1`, [id]);
  return row ? userFromRow(row, secrets) : null;
}

export async function findUserByUsername(
  db: Queryable,
  secrets: StoreSecrets,
  username: string,
): Promise<UserRecord | null> {
  const [row] = await db.query<UserRow>(`${SELECT_USERS} WHERE lower(u.username) = lower($1)`, [username]);
  return row ? userFromRow(row, secrets) : null;
}

export async function listUsers(db: Queryable, secrets: StoreSecrets): Promise<UserRecord[]> {
  return (await db.query<UserRow>(`${SELECT_USERS} ORDER BY u.created_seq`)).map((row) =>
    userFromRow(row, secrets),
  );
}

export async function countUsers(db: Queryable): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::integer AS n FROM users');
  return row?.n ?? 0;
}

export async function listAdminIds(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    "SELECT id FROM users WHERE role = 'admin' ORDER BY created_seq",
  );
  return rows.map((row) => row.id);
}

export async function createUser(db: Db, secrets: StoreSecrets, user: UserRecord): Promise<void> {
  const record = checked(structuredClone(user));
  await db.transaction((tx) => insertUser(tx, secrets, record));
}

/** A timestamptz[] as one array literal, so a batch of users can pass their arrays as one text[]. */
const timesLiteral = (times: string[]) => `{${times.map((time) => `"${time}"`).join(',')}}`;

/**
 * Inserts many records in one transaction, in order, with one statement per table (the migration
 * from lowdb, the benchmark's setup): 100,000 users take seconds, not minutes.
 */
export async function createUsers(db: Db, secrets: StoreSecrets, users: UserRecord[]): Promise<void> {
  const records = users.map((user) => checked(structuredClone(user)));
  if (records.length === 0) return;
  const clear = records.map(userValues);
  const values: unknown[][] = [];
  // unnest cannot take an array of arrays of unequal length: an array column travels as one literal each.
  const column = (i: number) =>
    values.map((row) =>
      USER_COLUMNS[i]?.type === 'timestamptz[]' ? timesLiteral(row[i] as string[]) : row[i],
    );
  const paramType = (type: UserColumn['type']) => (type === 'timestamptz[]' ? 'text' : type);
  const sets = records.flatMap((user) =>
    user.backupCodes ? [{ userId: user.id, set: user.backupCodes }] : [],
  );
  const codes = sets.flatMap(({ userId, set }) => set.codes.map((code) => ({ userId, ...code })));
  await db.transaction(async (tx) => {
    for (const [i, record] of records.entries()) {
      values.push(await storedValues(tx, secrets, record, clear[i] as unknown[]));
    }
    try {
      await tx.query(
        `INSERT INTO users (id, ${COLUMN_NAMES})
         SELECT id, ${USER_COLUMNS.map((c) => (c.type === 'timestamptz[]' ? `${c.name}::timestamptz[]` : c.name)).join(', ')}
           FROM unnest($1::text[], ${USER_COLUMNS.map((c, i) => `$${i + 2}::${paramType(c.type)}[]`).join(', ')})
                WITH ORDINALITY AS u(id, ${COLUMN_NAMES}, n)
          ORDER BY n`,
        [records.map((user) => user.id), ...USER_COLUMNS.map((_, i) => column(i))],
      );
    } catch (error) {
      // Which record clashed is not known here; the name in the message is the first of the batch.
      takenOrThrow(error, records[0] as UserRecord);
    }
    if (sets.length === 0) return;
    await tx.query(
      `INSERT INTO backup_code_sets (user_id, set_id, salt, generated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])`,
      [
        sets.map((s) => s.userId),
        sets.map((s) => s.set.id),
        sets.map((s) => s.set.salt),
        sets.map((s) => s.set.generatedAt),
      ],
    );
    if (codes.length === 0) return;
    await tx.query(
      `INSERT INTO backup_codes (user_id, number, digest, used_at)
       SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::timestamptz[])`,
      [
        codes.map((c) => c.userId),
        codes.map((c) => c.number),
        codes.map((c) => c.digest),
        codes.map((c) => c.usedAt),
      ],
    );
  });
}

/**
 * The Store's updateUser: the user's row is locked (SELECT … FOR UPDATE) for the whole read-change-
 * write, so calls for one user run one at a time across every instance.
 */
export async function updateUser<T>(
  db: Db,
  secrets: StoreSecrets,
  id: string,
  change: (user: UserRecord) => UserChange<T>,
): Promise<T | null> {
  return db.transaction((tx) => changeLockedUser(tx, secrets, id, change, false));
}

/** Locks the user's row, reads it, runs `change`, writes what changed; inside the caller's transaction. */
async function changeLockedUser<T>(
  tx: Queryable,
  secrets: StoreSecrets,
  id: string,
  change: (user: UserRecord) => UserChange<T>,
  keepAnAdmin: boolean,
): Promise<T | null> {
  // One statement locks the row and then reads the record (migration 008): a plain SELECT … FOR
  // UPDATE that waited for the lock would read the codes as they were before it waited, so the read
  // runs inside the function, with a snapshot taken after the lock was granted.
  const [row] = await tx.query<UserRow>('SELECT * FROM sparekey_lock_user($1)', [id]);
  if (!row) return null;
  const current = userFromRow(row, secrets);
  const { user: next, result, audit = [] } = change(structuredClone(current));
  // In the same transaction as the change they record: both commit, or neither.
  const recordEvents = () => appendEvents(tx, audit);
  if (next === null) {
    if (audit.length > 0) await recordEvents();
    return result;
  }
  const record = checked(structuredClone(next));
  if (record.id !== id) throw new Error('updateUser cannot change a user id.');
  if (keepAnAdmin && current.role === 'admin' && record.role !== 'admin' && !(await hasOtherAdmin(tx, id))) {
    throw new LastAdminError();
  }
  await writeChange(tx, secrets, current, record);
  if (audit.length > 0) await recordEvents();
  return result;
}

/**
 * Locks every admin row, in id order, before the caller locks the user's: every guarded change takes
 * the same locks in the same order, so two admins demoting or deleting each other queue rather than
 * both seeing the other still there (and cannot deadlock on each other).
 */
async function lockAdmins(tx: Queryable): Promise<void> {
  await tx.query("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE");
}

/** Asked after lockAdmins by a new statement, so it sees admins promoted while it waited. */
async function hasOtherAdmin(tx: Queryable, id: string): Promise<boolean> {
  const rows = await tx.query("SELECT 1 FROM users WHERE role = 'admin' AND id <> $1 LIMIT 1", [id]);
  return rows.length > 0;
}

/**
 * Deadlocks and serialization failures: retried a few times. With every guarded change locking the
 * admins first in one order none is expected; a plain updateUser that promotes a user between the
 * two locks of a guarded change is the rare case this covers.
 */
const RETRIED_STATES = new Set(['40P01', '40001']);
const GUARD_ATTEMPTS = 5;

async function withRetry<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const state = sqlState(error instanceof StoreUnavailableError ? error.cause : error);
      if (attempt >= GUARD_ATTEMPTS || !state || !RETRIED_STATES.has(state)) throw error;
    }
  }
}

/** The Store's updateUserKeepingAnAdmin: the admin rows locked, then the user's, then the check and the write. */
export async function updateUserKeepingAnAdmin<T>(
  db: Db,
  secrets: StoreSecrets,
  id: string,
  change: (user: UserRecord) => UserChange<T>,
): Promise<T | null> {
  return withRetry(() =>
    db.transaction(async (tx) => {
      await lockAdmins(tx);
      return changeLockedUser(tx, secrets, id, change, true);
    }),
  );
}

/** The Store's deleteUserKeepingAnAdmin: as updateUserKeepingAnAdmin, then deleteUser's statements. */
export async function deleteUserKeepingAnAdmin(db: Db, id: string): Promise<boolean> {
  return withRetry(() =>
    db.transaction(async (tx) => {
      await lockAdmins(tx);
      const [row] = await tx.query<{ role: string }>('SELECT role FROM users WHERE id = $1 FOR UPDATE', [id]);
      if (!row) return false;
      if (row.role === 'admin' && !(await hasOtherAdmin(tx, id))) throw new LastAdminError();
      return removeUser(tx, id);
    }),
  );
}

/** Removes the user (their set and codes by cascade) and kills their tokens, in one transaction. */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
  return db.transaction((tx) => removeUser(tx, id));
}

async function removeUser(tx: Queryable, id: string): Promise<boolean> {
  const deleted = await tx.query('DELETE FROM users WHERE id = $1 RETURNING id', [id]);
  if (deleted.length === 0) return false;
  await deleteTokensOfUser(tx, id);
  return true;
}
