/**
 * Password lockouts of names no account has, shared by every instance. The change runs under a
 * transaction-scoped advisory lock on the name (key space "SPUN", taken by sparekey_lock_unknown_name of
 * migration 008), so concurrent guesses at one unknown name queue there exactly as guesses at an
 * account queue on its row lock, in as many round trips as those (the timing tells nothing).
 */
import { OPEN_LOCKOUT, unknownNameKey } from '../records';
import type { Lockout } from '../types';
import type { Db, Queryable } from './db';
import { ABANDONED_INTERVAL } from './tokens';

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
    // The name's lock, then its lockout read after the lock is granted: one statement (migration 008).
    const [row] = await tx.query<{ lockout: Lockout | null }>(
      'SELECT sparekey_lock_unknown_name($1) AS lockout',
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
