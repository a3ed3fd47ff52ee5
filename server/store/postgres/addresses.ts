/** Failed attempts per client address, shared by every instance: the per-address throttle. */
import { createHash } from 'node:crypto';
import type { Queryable } from './db';
import { ABANDONED_INTERVAL } from './tokens';

/** The address is kept only as its SHA-256: the throttle needs to match it, not to read it. */
const ipKey = (ip: string) => createHash('sha256').update(ip).digest('hex');

export async function addIpFailure(db: Queryable, ip: string, at: string): Promise<void> {
  await db.query('INSERT INTO ip_failures (ip_hash, at) VALUES ($1, $2)', [ipKey(ip), at]);
}

/** Counts the failures at or after `since`, and prunes the older ones of this address. */
export async function countIpFailures(db: Queryable, ip: string, since: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `WITH pruned AS (DELETE FROM ip_failures WHERE ip_hash = $1 AND at < $2)
     SELECT count(*)::integer AS n FROM ip_failures WHERE ip_hash = $1 AND at >= $2`,
    [ipKey(ip), since],
  );
  return row?.n ?? 0;
}

export async function sweepIpFailures(db: Queryable): Promise<number> {
  const rows = await db.query(
    `DELETE FROM ip_failures WHERE written_at < now() - interval '${ABANDONED_INTERVAL}' RETURNING 1`,
  );
  return rows.length;
}
