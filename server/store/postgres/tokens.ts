/**
 * Sessions and MFA challenges, keyed by the token's hash. A deleted token becomes a tombstone
 * (dead_at set) rather than disappearing: putToken updates a row only while it is alive, so a
 * request that read a session before its logout cannot write it back (row locks order the two,
 * whichever instance runs them). takeToken is one DELETE … RETURNING: exactly one caller gets the row.
 */
import type { SessionMfa, TokenKind, TokenRecord } from '../types';
import type { Queryable } from './db';

const COLUMNS =
  'hash, kind, user_id, created_at, last_seen_at, expires_at, pending_secret, mfa_passed, mfa_fingerprint';

interface TokenRow {
  hash: string;
  kind: TokenRecord['kind'];
  user_id: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  pending_secret: string | null;
  mfa_passed: SessionMfa | null;
  mfa_fingerprint: string | null;
}

function tokenFromRow(row: TokenRow): TokenRecord {
  return {
    hash: row.hash,
    kind: row.kind,
    userId: row.user_id,
    createdAt: row.created_at.toISOString(),
    lastSeenAt: row.last_seen_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    // Absent rather than null when there is none: what the services wrote for a session.
    ...(row.pending_secret === null ? {} : { pendingSecret: row.pending_secret }),
    ...(row.mfa_passed === null ? {} : { mfaPassed: row.mfa_passed }),
    ...(row.mfa_fingerprint === null ? {} : { mfaFingerprint: row.mfa_fingerprint }),
  };
}

export async function putToken(db: Queryable, token: TokenRecord): Promise<void> {
  await db.query(
    `INSERT INTO tokens (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (hash) DO UPDATE
       SET kind = EXCLUDED.kind, user_id = EXCLUDED.user_id, created_at = EXCLUDED.created_at,
           last_seen_at = EXCLUDED.last_seen_at, expires_at = EXCLUDED.expires_at,
           pending_secret = EXCLUDED.pending_secret, mfa_passed = EXCLUDED.mfa_passed,
           mfa_fingerprint = EXCLUDED.mfa_fingerprint, written_at = now()
       WHERE tokens.dead_at IS NULL`,
    [
      token.hash,
      token.kind,
      token.userId,
      token.createdAt,
      token.lastSeenAt,
      token.expiresAt,
      token.pendingSecret ?? null,
      token.mfaPassed ?? null,
      token.mfaFingerprint ?? null,
    ],
  );
}

export async function getToken(db: Queryable, hash: string): Promise<TokenRecord | null> {
  const [row] = await db.query<TokenRow>(
    `SELECT ${COLUMNS} FROM tokens WHERE hash = $1 AND dead_at IS NULL`,
    [hash],
  );
  return row ? tokenFromRow(row) : null;
}

export async function takeToken(db: Queryable, hash: string): Promise<TokenRecord | null> {
  const [row] = await db.query<TokenRow>(
    `DELETE FROM tokens WHERE hash = $1 AND dead_at IS NULL RETURNING ${COLUMNS}`,
    [hash],
  );
  return row ? tokenFromRow(row) : null;
}

export async function deleteToken(db: Queryable, hash: string): Promise<void> {
  await db.query('UPDATE tokens SET dead_at = now() WHERE hash = $1 AND dead_at IS NULL', [hash]);
}

/** Every token of the user, or only those of `kind` (a new authenticator ends pending challenges). */
export async function deleteTokensOfUser(db: Queryable, userId: string, kind?: TokenKind): Promise<void> {
  await db.query(
    'UPDATE tokens SET dead_at = now() WHERE user_id = $1 AND ($2::text IS NULL OR kind = $2) AND dead_at IS NULL',
    [userId, kind ?? null],
  );
}

/** How long a tombstone refuses a write-back: longer than any request that read the token before it died. */
export const TOMBSTONE_INTERVAL = '10 minutes';
/** Rows no one wrote for this long (by the database's clock), and tokens expired as long, are abandoned. */
export const ABANDONED_INTERVAL = '1 day';

/** Removes old tombstones and abandoned tokens; resolves with the number of rows removed. */
export async function sweepTokens(db: Queryable): Promise<number> {
  const rows = await db.query(
    `DELETE FROM tokens
      WHERE dead_at < now() - interval '${TOMBSTONE_INTERVAL}'
         OR (written_at < now() - interval '${ABANDONED_INTERVAL}'
             AND expires_at < now() - interval '${ABANDONED_INTERVAL}')
      RETURNING 1`,
  );
  return rows.length;
}
