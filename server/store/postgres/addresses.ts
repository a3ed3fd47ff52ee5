/**
 * Attempts per client address, shared by every instance: the per-address throttle. An attempt is
 * reserved (counted and recorded) under a transaction-scoped advisory lock on the address, so
 * concurrent attempts on any instance queue there and never all see room for one more.
 */
import { createHash } from 'node:crypto';
import type { Db, Queryable } from './db';
import { ABANDONED_INTERVAL } from './tokens';

/** The address is kept only as its SHA-256: the throttle needs to match it, not to read it. */
const ipKey = (ip: string) => createHash('sha256').update(ip).digest('hex');

/**
 * First key of the two-key advisory locks on addresses ("SPIP"): a key space of its own, apart from
 * the migration lock (one bigint key) and any other two-key lock.
 */
const ADDRESS_LOCK_SPACE = 0x53504950;

/** The address's attempts at or after $2, pruning its older ones in the same statement. */
const COUNT_RECENT = `
  WITH pruned AS (DELETE FROM ip_failures WHERE ip_hash = $1 AND at < $2)
  SELECT count(*)::integer AS n FROM ip_failures WHERE ip_hash = $1 AND at >= $2`;

async function lockAddress(tx: Queryable, key: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [ADDRESS_LOCK_SPACE, key]);
}

/** The Store's reserveIpAttempt: prune, count and insert under the address's lock, in one transaction. */
export async function reserveIpAttempt(
  db: Db,
  ip: string,
  since: string,
  limit: number,
  at: string,
): Promise<boolean> {
  const key = ipKey(ip);
  return db.transaction(async (tx) => {
    await lockAddress(tx, key);
    // `limit` is compared here, not in SQL: a caller may pass Infinity (record unconditionally).
    const [row] = await tx.query<{ n: number }>(COUNT_RECENT, [key, since]);
    if ((row?.n ?? 0) >= limit) return false;
    await tx.query('INSERT INTO ip_failures (ip_hash, at) VALUES ($1, $2)', [key, at]);
    return true;
  });
}

/** The Store's releaseIpAttempt: deletes exactly one reservation of `ip` at `at`, under the address's lock. */
export async function releaseIpAttempt(db: Db, ip: string, at: string): Promise<void> {
  const key = ipKey(ip);
  await db.transaction(async (tx) => {
    await lockAddress(tx, key);
    await tx.query(
      `DELETE FROM ip_failures
        WHERE ctid = (SELECT ctid FROM ip_failures WHERE ip_hash = $1 AND at = $2 LIMIT 1)`,
      [key, at],
    );
  });
}

/** Counts the failures at or after `since`, and prunes the older ones of this address. */
export async function countIpFailures(db: Queryable, ip: string, since: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(COUNT_RECENT, [ipKey(ip), since]);
  return row?.n ?? 0;
}

export async function sweepIpFailures(db: Queryable): Promise<number> {
  const rows = await db.query(
    `DELETE FROM ip_failures WHERE written_at < now() - interval '${ABANDONED_INTERVAL}' RETURNING 1`,
  );
  return rows.length;
}
