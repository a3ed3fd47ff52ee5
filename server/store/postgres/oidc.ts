/**
 * The OpenID Connect block of the Store (OidcStore in ../types): applications, the one row of keys,
 * and oidc-provider's records keyed by (model, sha256(id)). Expiry is judged against this process's
 * clock, as the lowdb store does, so both stores agree on what the provider (which runs on that clock)
 * considers expired.
 */
import { createHash } from 'node:crypto';
import { ApplicationSchema, KeysSchema } from '../records';
import type { SealedOidcKeys, StoreSecrets } from '../secrets';
import type { ApplicationRecord, OidcKeys, OidcPayload } from '../types';
import { type Db, type Queryable, sqlState } from './db';
import { sealingKeyId } from './storage-key';
import { ABANDONED_INTERVAL } from './tokens';

// ---- applications ----

const APPLICATION_COLUMNS =
  'id, client_id, name, type, redirect_uris, post_logout_redirect_uris, secret_hash, created_at, updated_at';

interface ApplicationRow {
  id: string;
  client_id: string;
  name: string;
  type: ApplicationRecord['type'];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  secret_hash: string | null;
  created_at: Date;
  updated_at: Date;
}

function applicationFromRow(row: ApplicationRow): ApplicationRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    name: row.name,
    type: row.type,
    redirectUris: row.redirect_uris,
    postLogoutRedirectUris: row.post_logout_redirect_uris,
    secretHash: row.secret_hash,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

const applicationValues = (app: ApplicationRecord) => [
  app.id,
  app.clientId,
  app.name,
  app.type,
  app.redirectUris,
  app.postLogoutRedirectUris,
  app.secretHash,
  app.createdAt,
  app.updatedAt,
];

export async function listApplications(db: Queryable): Promise<ApplicationRecord[]> {
  const rows = await db.query<ApplicationRow>(
    `SELECT ${APPLICATION_COLUMNS} FROM applications ORDER BY created_seq`,
  );
  return rows.map(applicationFromRow);
}

export async function getApplication(db: Queryable, id: string): Promise<ApplicationRecord | null> {
  const [row] = await db.query<ApplicationRow>(
    `SELECT ${APPLICATION_COLUMNS} FROM applications WHERE id = $1`,
    [id],
  );
  return row ? applicationFromRow(row) : null;
}

export async function findApplicationByClientId(
  db: Queryable,
  clientId: string,
): Promise<ApplicationRecord | null> {
  const [row] = await db.query<ApplicationRow>(
    `SELECT ${APPLICATION_COLUMNS} FROM applications WHERE client_id = $1`,
    [clientId],
  );
  return row ? applicationFromRow(row) : null;
}

export async function createApplication(db: Queryable, application: ApplicationRecord): Promise<void> {
  const record = ApplicationSchema.parse(structuredClone(application));
  try {
    await db.query(
      `INSERT INTO applications (${APPLICATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      applicationValues(record),
    );
  } catch (error) {
    if (sqlState(error) === '23505') throw new Error('An application with this id or client id exists.');
    throw error;
  }
}

/** Read-modify-write under the application's row lock (SELECT … FOR UPDATE), one transaction. */
export async function updateApplication(
  db: Db,
  id: string,
  change: (application: ApplicationRecord) => ApplicationRecord,
): Promise<ApplicationRecord | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<ApplicationRow>(
      `SELECT ${APPLICATION_COLUMNS} FROM applications WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (!row) return null;
    const current = applicationFromRow(row);
    const next = ApplicationSchema.parse(change(structuredClone(current)));
    if (next.id !== id || next.clientId !== current.clientId) {
      throw new Error('updateApplication cannot change an id or a client id.');
    }
    await tx.query(
      `UPDATE applications SET name = $3, type = $4, redirect_uris = $5, post_logout_redirect_uris = $6,
              secret_hash = $7, created_at = $8, updated_at = $9
        WHERE id = $1 AND client_id = $2`,
      applicationValues(next),
    );
    return next;
  });
}

export async function deleteApplication(db: Queryable, id: string): Promise<ApplicationRecord | null> {
  const [row] = await db.query<ApplicationRow>(
    `DELETE FROM applications WHERE id = $1 RETURNING ${APPLICATION_COLUMNS}`,
    [id],
  );
  return row ? applicationFromRow(row) : null;
}

// ---- keys ----

type StoredKeys = OidcKeys | SealedOidcKeys | null;

/** The key set as services see it: opened (the row holds it sealed under the storage key). */
function openedKeys(secrets: StoreSecrets, stored: StoredKeys): OidcKeys | null {
  return stored === null ? null : KeysSchema.parse(secrets.openOidcKeys(stored));
}

export async function getOidcKeys(db: Queryable, secrets: StoreSecrets): Promise<OidcKeys | null> {
  const [row] = await db.query<{ keys: StoredKeys }>('SELECT keys FROM oidc_keys');
  return openedKeys(secrets, row?.keys ?? null);
}

/**
 * `change` runs with the key row locked (SELECT … FOR UPDATE), so of two instances starting together
 * one creates the set and the other sees it. Before the first set there is no row to lock: an empty
 * one is inserted first (ON CONFLICT DO NOTHING waits for a concurrent insert to commit).
 */
export async function updateOidcKeys(
  db: Db,
  secrets: StoreSecrets,
  change: (current: OidcKeys | null) => OidcKeys | null,
): Promise<OidcKeys | null> {
  return db.transaction(async (tx) => {
    await tx.query(
      'INSERT INTO oidc_keys (singleton, keys) VALUES (true, NULL) ON CONFLICT (singleton) DO NOTHING',
    );
    const [row] = await tx.query<{ keys: StoredKeys }>('SELECT keys FROM oidc_keys FOR UPDATE');
    const current = openedKeys(secrets, row?.keys ?? null);
    const next = change(structuredClone(current));
    if (!next) return current;
    const checked = KeysSchema.parse(next);
    const stored = secrets.sealOidcKeys(await sealingKeyId(tx), checked);
    await tx.query('UPDATE oidc_keys SET keys = $1', [JSON.stringify(stored)]);
    return checked;
  });
}

// ---- provider records ----

/** The id is often a bearer value (an access token, a session cookie): only its hash is kept. */
const idHash = (id: string) => createHash('sha256').update(id).digest('hex');
const stringOrNull = (value: unknown) => (typeof value === 'string' ? value : null);
/** Live: unexpired by this process's clock (what the provider and the lowdb store go by). */
const LIVE = '(expires_at IS NULL OR expires_at > $3)';

export async function oidcPut(
  db: Queryable,
  model: string,
  id: string,
  payload: OidcPayload,
  expiresAt: number | null,
): Promise<void> {
  const { jti: _jti, ...rest } = payload;
  const consumed = typeof payload.consumed === 'number' ? new Date(payload.consumed * 1000) : null;
  await db.query(
    `INSERT INTO oidc_records (model, id_hash, payload, uid, user_code, grant_id, expires_at, consumed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (model, id_hash) DO UPDATE
       SET payload = EXCLUDED.payload, uid = EXCLUDED.uid, user_code = EXCLUDED.user_code,
           grant_id = EXCLUDED.grant_id, expires_at = EXCLUDED.expires_at,
           consumed_at = EXCLUDED.consumed_at, written_at = clock_timestamp()`,
    [
      model,
      idHash(id),
      JSON.stringify(rest),
      stringOrNull(payload.uid),
      stringOrNull(payload.userCode),
      stringOrNull(payload.grantId),
      expiresAt === null ? null : new Date(expiresAt),
      consumed,
    ],
  );
}

export async function oidcGet(db: Queryable, model: string, id: string): Promise<OidcPayload | null> {
  const [row] = await db.query<{ payload: OidcPayload }>(
    `SELECT payload FROM oidc_records WHERE model = $1 AND id_hash = $2 AND ${LIVE}`,
    [model, idHash(id), new Date()],
  );
  return row ? { ...row.payload, jti: id } : null;
}

async function findBy(
  db: Queryable,
  column: 'uid' | 'user_code',
  model: string,
  value: string,
): Promise<OidcPayload | null> {
  const [row] = await db.query<{ payload: OidcPayload }>(
    `SELECT payload FROM oidc_records WHERE model = $1 AND ${column} = $2 AND ${LIVE}
      ORDER BY written_at DESC LIMIT 1`,
    [model, value, new Date()],
  );
  return row ? row.payload : null;
}

export function oidcFindByUid(db: Queryable, model: string, uid: string): Promise<OidcPayload | null> {
  return findBy(db, 'uid', model, uid);
}

export function oidcFindByUserCode(
  db: Queryable,
  model: string,
  userCode: string,
): Promise<OidcPayload | null> {
  return findBy(db, 'user_code', model, userCode);
}

/** One UPDATE … WHERE consumed_at IS NULL: of concurrent consumers exactly one changes the row. */
export async function oidcConsume(db: Queryable, model: string, id: string, at: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE oidc_records
        SET consumed_at = to_timestamp($4::double precision),
            payload = payload || jsonb_build_object('consumed', $4::double precision)
      WHERE model = $1 AND id_hash = $2 AND ${LIVE} AND consumed_at IS NULL
      RETURNING 1`,
    [model, idHash(id), new Date(), at],
  );
  return rows.length > 0;
}

export async function oidcDestroy(db: Queryable, model: string, id: string): Promise<void> {
  await db.query('DELETE FROM oidc_records WHERE model = $1 AND id_hash = $2', [model, idHash(id)]);
}

export async function oidcRevokeByGrantId(db: Queryable, grantId: string): Promise<void> {
  await db.query('DELETE FROM oidc_records WHERE grant_id = $1', [grantId]);
}

/** Removes records expired for a day (by the database's clock, like the other sweeps). */
export async function sweepOidcRecords(db: Queryable): Promise<number> {
  const rows = await db.query(
    `DELETE FROM oidc_records WHERE expires_at < now() - interval '${ABANDONED_INTERVAL}' RETURNING 1`,
  );
  return rows.length;
}
