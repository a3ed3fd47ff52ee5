/**
 * Users, their backup-code sets and codes. The mapping between UserRecord and the rows lives here
 * and only here: `userFromRow` reads one, `writeUser`/`writeChange` write one.
 */
import type { MfaType, Role } from '../../../shared/api';
import { UserRecordSchema } from '../records';
import { type BackupCodeSet, UsernameTakenError, type UserRecord } from '../types';
import { type Db, type Queryable, sqlState, violatedConstraint } from './db';

/** One user with their set and its codes, read by one statement (one snapshot). */
const SELECT_USERS = `
  SELECT u.id, u.username, u.role, u.password_hash, u.created_at, u.mfa_type, u.totp_secret,
         u.mfa_enrolled, u.mfa_configure_later, u.totp_last_step, u.mfa_failures, u.mfa_locked_until,
         u.must_change_password,
         s.set_id, s.salt, s.generated_at,
         (SELECT json_agg(json_build_object('number', c.number, 'digest', c.digest, 'usedAt', c.used_at)
                          ORDER BY c.number)
            FROM backup_codes c WHERE c.user_id = u.id) AS codes
    FROM users u LEFT JOIN backup_code_sets s ON s.user_id = u.id`;

interface UserRow {
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
  mfa_failures: Date[];
  mfa_locked_until: Date | null;
  must_change_password: boolean;
  set_id: string | null;
  salt: string | null;
  generated_at: Date | null;
  /** json: times as text with an offset. */
  codes: { number: number; digest: string | null; usedAt: string | null }[] | null;
}

const iso = (time: Date | string) => new Date(time).toISOString();
const isoOrNull = (time: Date | string | null) => (time === null ? null : iso(time));

function userFromRow(row: UserRow): UserRecord {
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
      secret: row.totp_secret,
      enrolled: row.mfa_enrolled,
      configureLater: row.mfa_configure_later,
      lastStep: row.totp_last_step === null ? null : Number(row.totp_last_step),
    },
    backupCodes,
    mfaFailures: row.mfa_failures.map(iso),
    mfaLockedUntil: isoOrNull(row.mfa_locked_until),
    // Absent means false in a UserRecord: only a set flag is carried, as the lowdb store keeps it.
    ...(row.must_change_password ? { mustChangePassword: true } : {}),
  };
}

/** The users row's columns after id, in the order userValues gives them. */
const USER_COLUMNS = [
  'username',
  'role',
  'password_hash',
  'created_at',
  'mfa_type',
  'totp_secret',
  'mfa_enrolled',
  'mfa_configure_later',
  'totp_last_step',
  'mfa_failures',
  'mfa_locked_until',
  'must_change_password',
] as const;
const USER_CASTS = [
  '',
  '',
  '',
  '::timestamptz',
  '',
  '',
  '',
  '',
  '::bigint',
  '::timestamptz[]',
  '::timestamptz',
  '',
];

function userValues(user: UserRecord): unknown[] {
  return [
    user.username,
    user.role,
    user.passwordHash,
    user.createdAt,
    user.mfa.type,
    user.mfa.secret,
    user.mfa.enrolled,
    user.mfa.configureLater,
    user.mfa.lastStep,
    user.mfaFailures,
    user.mfaLockedUntil,
    Boolean(user.mustChangePassword),
  ];
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
async function insertUser(tx: Queryable, user: UserRecord): Promise<void> {
  const placeholders = USER_COLUMNS.map((_, i) => `$${i + 2}${USER_CASTS[i]}`).join(', ');
  try {
    await tx.query(`INSERT INTO users (id, ${USER_COLUMNS.join(', ')}) VALUES ($1, ${placeholders})`, [
      user.id,
      ...userValues(user),
    ]);
  } catch (error) {
    takenOrThrow(error, user);
  }
  if (user.backupCodes) await insertSet(tx, user.id, user.backupCodes);
}

/** Writes only what changed between `before` and `after`: spending a code changes one backup_codes row. */
async function writeChange(tx: Queryable, before: UserRecord, after: UserRecord): Promise<void> {
  const old = userValues(before);
  const next = userValues(after);
  const changed = USER_COLUMNS.flatMap((_, i) =>
    JSON.stringify(old[i]) === JSON.stringify(next[i]) ? [] : [i],
  );
  if (changed.length > 0) {
    const sets = changed.map((i, n) => `${USER_COLUMNS[i]} = $${n + 2}${USER_CASTS[i]}`).join(', ');
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

export async function getUser(db: Queryable, id: string): Promise<UserRecord | null> {
  const [row] = await db.query<UserRow>(`${SELECT_USERS} WHERE u.id = $1`, [id]);
  return row ? userFromRow(row) : null;
}

export async function findUserByUsername(db: Queryable, username: string): Promise<UserRecord | null> {
  const [row] = await db.query<UserRow>(`${SELECT_USERS} WHERE lower(u.username) = lower($1)`, [username]);
  return row ? userFromRow(row) : null;
}

export async function listUsers(db: Queryable): Promise<UserRecord[]> {
  return (await db.query<UserRow>(`${SELECT_USERS} ORDER BY u.created_seq`)).map(userFromRow);
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

export async function createUser(db: Db, user: UserRecord): Promise<void> {
  const record = checked(structuredClone(user));
  await db.transaction((tx) => insertUser(tx, record));
}

/** A timestamptz[] as one array literal, so a batch of users can pass their arrays as one text[]. */
const timesLiteral = (times: string[]) => `{${times.map((time) => `"${time}"`).join(',')}}`;

/**
 * Inserts many records in one transaction, in order, with one statement per table (the migration
 * from lowdb, the benchmark's setup): 100,000 users take seconds, not minutes.
 */
export async function createUsers(db: Db, users: UserRecord[]): Promise<void> {
  const records = users.map((user) => checked(structuredClone(user)));
  if (records.length === 0) return;
  const values = records.map(userValues);
  const column = (i: number) => values.map((row) => (i === 9 ? timesLiteral(row[i] as string[]) : row[i]));
  const types = [
    'text',
    'text',
    'text',
    'timestamptz',
    'text',
    'text',
    'boolean',
    'boolean',
    'bigint',
    'text',
    'timestamptz',
    'boolean',
  ];
  const sets = records.flatMap((user) =>
    user.backupCodes ? [{ userId: user.id, set: user.backupCodes }] : [],
  );
  const codes = sets.flatMap(({ userId, set }) => set.codes.map((code) => ({ userId, ...code })));
  await db.transaction(async (tx) => {
    try {
      await tx.query(
        `INSERT INTO users (id, ${USER_COLUMNS.join(', ')})
         SELECT id, ${USER_COLUMNS.map((name) => (name === 'mfa_failures' ? 'mfa_failures::timestamptz[]' : name)).join(', ')}
           FROM unnest($1::text[], ${types.map((type, i) => `$${i + 2}::${type}[]`).join(', ')})
                WITH ORDINALITY AS u(id, ${USER_COLUMNS.join(', ')}, n)
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
 * write, so calls for one user run one at a time across every instance. The record is read by a
 * second statement after the lock is held: in READ COMMITTED each statement sees what was committed
 * before it began, so it sees the previous holder's writes (a statement that waited for the lock
 * would see the codes as they were before it waited).
 */
export async function updateUser<T>(
  db: Db,
  id: string,
  change: (user: UserRecord) => { user: UserRecord | null; result: T },
): Promise<T | null> {
  return db.transaction(async (tx) => {
    const locked = await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id]);
    if (locked.length === 0) return null;
    const current = await getUser(tx, id);
    if (!current) return null;
    const { user: next, result } = change(structuredClone(current));
    if (next === null) return result;
    const record = checked(structuredClone(next));
    if (record.id !== id) throw new Error('updateUser cannot change a user id.');
    await writeChange(tx, current, record);
    return result;
  });
}

/** Removes the user (their set and codes by cascade) and kills their tokens, in one transaction. */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const deleted = await tx.query('DELETE FROM users WHERE id = $1 RETURNING id', [id]);
    if (deleted.length === 0) return false;
    await tx.query('UPDATE tokens SET dead_at = now() WHERE user_id = $1 AND dead_at IS NULL', [id]);
    return true;
  });
}
