/**
 * Attempts per client address, shared by every instance: the per-address throttle. An attempt is
 * reserved (counted and recorded) under a transaction-scoped advisory lock on the address, so
 * concurrent attempts on any instance queue there and never all see room for one more. The lock,
 * the count and the insert are one function of the schema (migration 008), called in one statement:
 * one round trip per reservation instead of five.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from './db';
import { ABANDONED_INTERVAL } from './tokens';

/** The address is kept only as its SHA-256: the throttle needs to match it, not to read it. */
const ipKey = (ip: string) => createHash('sha256').update(ip).digest('hex');

/** The address's attempts at or after $2, pruning its older ones in the same statement. */
const COUNT_RECENT = `
  WITH pruned AS (DELETE FROM ip_failures WHERE ip_hash = $1 AND at < $2)
  SELECT count(*)::integer AS n FROM ip_failures WHERE ip_hash = $1 AND at >= $2`;

/** The Store's reserveIpAttempt: prune, count and insert under the address's lock, in one statement. */
export async function reserveIpAttempt(
  db: Queryable,
  ip: string,
  since: string,
  limit: number,
  at: string,
): Promise<boolean> {
  // A caller may pass Infinity (record unconditionally): the function takes that as NULL.
  const [row] = await db.query<{ granted: boolean }>(
    'SELECT sparekey_reserve_ip_attempt($1, $2, $3, $4) AS granted',
    [ipKey(ip), since, Number.isFinite(limit) ? limit : null, at],
  );
  return row?.granted === true;
}

/** The Store's releaseIpAttempt: deletes exactly one reservation of `ip` at `at`, under the address's lock. */
export async function releaseIpAttempt(db: Queryable, ip: string, at: string): Promise<void> {
  await db.query('SELECT sparekey_release_ip_attempt($1, $2)', [ipKey(ip), at]);
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
