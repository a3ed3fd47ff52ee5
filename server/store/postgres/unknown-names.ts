/**
 * Password lockouts of names no account has, shared by every instance. The change runs under a
 * transaction-scoped advisory lock on the name, so concurrent guesses at one unknown name queue there
 * exactly as guesses at an account queue on its row lock.
 */
import { OPEN_LOCKOUT, unknownNameKey } from '../records';
import type { Lockout } from '../types';
import type { Db, Queryable } from './db';
import { ABANDONED_INTERVAL } from './tokens';

/** First key of the two-key advisory locks on unknown names ("SPUN"), apart from the address locks. */
const UNKNOWN_NAME_LOCK_SPACE = 0x5350554e;

/** A name that was locked keeps its escalation for this long, as an account's lockout would. */
const LOCKED_INTERVAL = '30 days';

/** The Store's updateUnknownNameLockout. */
export async function updateUnknownNameLockout<T>(
  db: Db,
  username: string,
  change: (lockout: Lockout) => { lockout: Lockout; result: T },
): Promise<T> {
  const key = unknownNameKey(username);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [UNKNOWN_NAME_LOCK_SPACE, key]);
    const [row] = await tx.query<{ lockout: Lockout }>(
      'SELECT lockout FROM unknown_name_lockouts WHERE name_hash = $1',
      [key],
    );
    const next = change(row?.lockout ?? OPEN_LOCKOUT);
    await tx.query(
      `INSERT INTO unknown_name_lockouts (name_hash, lockout) VALUES ($1, $2)
       ON CONFLICT (name_hash) DO UPDATE SET lockout = EXCLUDED.lockout, written_at = now()`,
      [key, JSON.stringify(next.lockout)],
    );
    return next.result;
  });
}

/** Removes names untouched for a day that never locked, and locked ones untouched for 30 days. */
export async function sweepUnknownNames(db: Queryable): Promise<number> {
  const rows = await db.query(
    `DELETE FROM unknown_name_lockouts
      WHERE written_at < now() - interval '${LOCKED_INTERVAL}'
         OR (written_at < now() - interval '${ABANDONED_INTERVAL}'
             AND (lockout->>'locks')::integer = 0
             AND NOT (lockout->>'needsAdminUnlock')::boolean)
      RETURNING 1`,
  );
  return rows.length;
}
