/**
 * Sessions and MFA challenges, keyed by the token's hash. A deleted token becomes a tombstone
 * (dead_at set) rather than disappearing: putToken updates a row only while it is alive, so a
 * request that read a session before its logout cannot write it back (row locks order the two,
 * whichever instance runs them). takeToken is one DELETE … RETURNING: exactly one caller gets the row.
 * An enrolment challenge's pending TOTP secret is sealed in its row (../secrets.ts sealPending) and
 * opened as it is read.
 */
import { SealedValueError } from '../../crypto/sealing';
import { StorageKeyMissingError, type StoreSecrets } from '../secrets';
import type { SessionMfa, TokenKind, TokenRecord } from '../types';
import type { Db, Queryable } from './db';
import { sealingKeyId } from './storage-key';

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

/**
 * The token a row holds, its pending secret opened; null when that does not open (moved from another
 * challenge, altered, or under a key this process lacks): a token that cannot be read grants nothing.
 */
function tokenFromRow(row: TokenRow, secrets: StoreSecrets): TokenRecord | null {
  let pendingSecret: string | null;
  try {
    pendingSecret = secrets.openPending(row.hash, row.pending_secret);
  } catch (error) {
    if (error instanceof SealedValueError || error instanceof StorageKeyMissingError) return null;
    throw error;
  }
  return {
    hash: row.hash,
    kind: row.kind,
    userId: row.user_id,
    createdAt: row.created_at.toISOString(),
    lastSeenAt: row.last_seen_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    // Absent rather than null when there is none: what the services wrote for a session.
    ...(pendingSecret === null ? {} : { pendingSecret }),
    ...(row.mfa_passed === null ? {} : { mfaPassed: row.mfa_passed }),
    ...(row.mfa_fingerprint === null ? {} : { mfaFingerprint: row.mfa_fingerprint }),
  };
}

/**
 * A session is written in one statement; a challenge with a pending secret in one transaction that
 * reads the key it seals under FOR SHARE, so a rekey's switch waits for it (./storage-key.ts).
 */
export async function putToken(db: Db, secrets: StoreSecrets, token: TokenRecord): Promise<void> {
  const pending = token.pendingSecret ?? null;
  if (pending === null || !secrets.enabled) return writeToken(db, token, pending);
  await db.transaction(async (tx) =>
    writeToken(tx, token, secrets.sealPending(await sealingKeyId(tx), token.hash, pending)),
  );
}

async function writeToken(db: Queryable, token: TokenRecord, storedPending: string | null): Promise<void> {
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
      storedPending,
      token.mfaPassed ?? null,
      token.mfaFingerprint ?? null,
    ],
  );
}

export async function getToken(
  db: Queryable,
  secrets: StoreSecrets,
  hash: string,
): Promise<TokenRecord | null> {
  const [row] = await db.query<TokenRow>(
    `SELECT ${COLUMNS} FROM tokens WHERE hash = $1 AND dead_at IS NULL`,
    [hash],
  );
  return row ? tokenFromRow(row, secrets) : null;
}

export async function takeToken(
  db: Queryable,
  secrets: StoreSecrets,
  hash: string,
): Promise<TokenRecord | null> {
  const [row] = await db.query<TokenRow>(
    `DELETE FROM tokens WHERE hash = $1 AND dead_at IS NULL RETURNING ${COLUMNS}`,
    [hash],
  );
  return row ? tokenFromRow(row, secrets) : null;
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

/**
 * At the end of a rekey, in its closing transaction: the enrolment challenges whose pending secret is
 * still under another key than `keyId` end (tombstoned, the sealed value cleared), rather than being
 * re-sealed: the user starts the enrolment again, and a challenge lives minutes anyway.
 */
export async function dropPendingNotUnder(tx: Queryable, keyId: string): Promise<void> {
  await tx.query(
    `UPDATE tokens SET dead_at = now(), pending_secret = NULL
      WHERE pending_secret LIKE 'sk1.%' AND pending_secret NOT LIKE $1 AND dead_at IS NULL`,
    [`sk1.${keyId}.%`],
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
