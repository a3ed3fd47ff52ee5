/**
 * The storage key on PostgreSQL (docs/SECURITY.md, "Secrets at rest"; docs/OPERATIONS.md, "Rekey"):
 * the key check row (`storage_key`, 007), the key a write seals under, and the pass that brings every
 * sealed value under the current key, in batches, each a short transaction, while other instances
 * serve: it seals clear values at the first start with a key and re-seals old ones during a rekey.
 */
import { sealedKeyId } from '../../crypto/sealing';
import type { KeyCheck, StoreSecrets } from '../secrets';
import type { OidcKeys } from '../types';
import type { Db, Queryable } from './db';
import { dropPendingNotUnder } from './tokens';

/** Rows re-sealed per transaction: short enough that a sign-in waiting on one of them hardly notices. */
export const RESEAL_BATCH = 200;

interface KeyCheckRow {
  key_id: string;
  previous_key_id: string | null;
}

const checkFromRow = (row: KeyCheckRow | undefined): KeyCheck | null =>
  row ? { keyId: row.key_id, previousKeyId: row.previous_key_id } : null;

export async function readKeyCheck(db: Queryable): Promise<KeyCheck | null> {
  const [row] = await db.query<KeyCheckRow>('SELECT key_id, previous_key_id FROM storage_key');
  return checkFromRow(row);
}

/**
 * The key a write seals under, read FOR SHARE inside the writing transaction: a rekey's switch
 * (an UPDATE of the row) waits for writes that read the old id, so each of them has committed before
 * the re-sealing pass looks for values under the old key. null: the store has no key (clear).
 */
export async function sealingKeyId(tx: Queryable): Promise<string | null> {
  const [row] = await tx.query<KeyCheckRow>('SELECT key_id FROM storage_key FOR SHARE');
  return row?.key_id ?? null;
}

/**
 * At open: records this process's key on a store that has none (of two instances starting together,
 * the first inserts, the second reads its row), then refuses a key the store does not know. Nothing
 * else is written before the check passes.
 */
export async function establishKeyCheck(db: Db, secrets: StoreSecrets): Promise<KeyCheck | null> {
  const initial = secrets.initialCheck();
  if (initial) {
    await db.query(
      'INSERT INTO storage_key (singleton, key_id) VALUES (true, $1) ON CONFLICT (singleton) DO NOTHING',
      [initial.keyId],
    );
  }
  const check = await readKeyCheck(db);
  secrets.verify(check);
  return check;
}

/**
 * One batch of users whose TOTP secret is not under the current key (clear, or under the previous),
 * each opened and sealed again under the lock of its row. Resolves with how many it changed.
 */
async function resealUsers(db: Db, secrets: StoreSecrets): Promise<number> {
  return db.transaction(async (tx) => {
    const keyId = await sealingKeyId(tx);
    if (keyId === null) return 0;
    const rows = await tx.query<{
      id: string;
      username: string;
      role: 'admin' | 'user';
      totp_secret: string;
    }>(
      `SELECT id, username, role, totp_secret FROM users
        WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE $1
        ORDER BY id LIMIT $2 FOR UPDATE`,
      [`sk1.${keyId}.%`, RESEAL_BATCH],
    );
    if (rows.length === 0) return 0;
    const sealed = rows.map((row) => secrets.sealTotp(keyId, row.id, secrets.openTotp(row, row.totp_secret)));
    await tx.query(
      `UPDATE users SET totp_secret = v.secret
         FROM unnest($1::text[], $2::text[]) AS v(id, secret) WHERE users.id = v.id`,
      [rows.map((row) => row.id), sealed],
    );
    return rows.length;
  });
}

/** The key set, when it is not under the current key: opened and sealed again under its row lock. */
async function resealOidcKeys(db: Db, secrets: StoreSecrets): Promise<number> {
  return db.transaction(async (tx) => {
    const keyId = await sealingKeyId(tx);
    const [row] = await tx.query<{ keys: OidcKeys | { sealed: string } | null }>(
      'SELECT keys FROM oidc_keys FOR UPDATE',
    );
    if (keyId === null || !row?.keys) return 0;
    if ('sealed' in row.keys && sealedKeyId(row.keys.sealed) === keyId) return 0;
    const clear = secrets.openOidcKeys(row.keys) as OidcKeys;
    await tx.query('UPDATE oidc_keys SET keys = $1', [JSON.stringify(secrets.sealOidcKeys(keyId, clear))]);
    return 1;
  });
}

/** Every sealed value under the current key; resolves with how many values it changed. */
export async function resealAll(db: Db, secrets: StoreSecrets): Promise<number> {
  let total = await resealOidcKeys(db, secrets);
  for (let changed = -1; changed !== 0; total += changed) changed = await resealUsers(db, secrets);
  return total;
}

export type RekeyOutcome = { resealed: number; alreadyCurrent: boolean };

/**
 * `sparekey store rekey` on PostgreSQL, online: (1) one transaction makes the new key current and
 * records the old as previous; from its commit every instance seals under the new key; (2) the pass
 * re-seals in batches; (3) one transaction, holding the row, clears the previous key once no value is
 * under it (a write that sealed under the old id before the switch committed before it, so the pass
 * saw it). Run again after an interruption, it resumes: the store already names the new key.
 */
export async function rekeyPostgres(db: Db, secrets: StoreSecrets, nextKeyId: string): Promise<RekeyOutcome> {
  const check = await readKeyCheck(db);
  secrets.verify(check);
  if (check === null) throw new Error('The store has no storage key yet: start the server once with one.');
  const alreadyCurrent = check.keyId === nextKeyId && check.previousKeyId === null;
  if (check.keyId !== nextKeyId) {
    await db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM storage_key FOR UPDATE');
      await tx.query('UPDATE storage_key SET key_id = $1, previous_key_id = $2, changed_at = now()', [
        nextKeyId,
        check.keyId,
      ]);
    });
  }
  let resealed = 0;
  for (;;) {
    resealed += await resealAll(db, secrets);
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM storage_key FOR UPDATE');
      const [left] = await tx.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM users WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE $1)::integer
              + (SELECT count(*) FROM oidc_keys
                 WHERE keys IS NOT NULL AND coalesce(keys->>'sealed', '') NOT LIKE $1)::integer AS n`,
        [`sk1.${nextKeyId}.%`],
      );
      if ((left?.n ?? 0) > 0) return false;
      // A challenge sealed under the old key committed before the switch (its write held the row FOR
      // SHARE); ended here, under the row lock, before the old key is forgotten.
      await dropPendingNotUnder(tx, nextKeyId);
      await tx.query('UPDATE storage_key SET previous_key_id = NULL, changed_at = now()');
      return true;
    });
    if (done) return { resealed, alreadyCurrent };
  }
}
