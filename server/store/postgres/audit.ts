/**
 * The audit log as rows: listed and paged newest first through the per-user and per-type indexes,
 * exported oldest first through the time index.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AuditEvent } from '../../../shared/api';
import { type AuditPage, type AuditQuery, InvalidCursorError, type NewAuditEvent } from '../types';
import type { Queryable } from './db';

const COLUMNS =
  'id, at, type, actor_id, actor_username, subject_id, subject_username, ip, user_agent, details';

interface AuditRow {
  id: string;
  at: Date;
  type: AuditEvent['type'];
  actor_id: string | null;
  actor_username: string | null;
  subject_id: string | null;
  subject_username: string | null;
  ip: string | null;
  user_agent: string | null;
  details: AuditEvent['details'] | null;
}

const ref = (id: string | null, username: string | null) =>
  id === null ? null : { id, username: username ?? '' };

function eventFromRow(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    at: row.at.toISOString(),
    type: row.type,
    actor: ref(row.actor_id, row.actor_username),
    subject: ref(row.subject_id, row.subject_username),
    ip: row.ip,
    userAgent: row.user_agent,
    ...(row.details ? { details: row.details } : {}),
  };
}

/** Inserts events in the given order (oldest first); an id already there is left as it is. */
export async function insertEvents(db: Queryable, events: AuditEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows = await db.query(
    `INSERT INTO audit_events (${COLUMNS})
     SELECT ${COLUMNS}
       FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                   $7::text[], $8::text[], $9::text[], $10::jsonb[]) WITH ORDINALITY AS e(${COLUMNS}, n)
      ORDER BY n
     ON CONFLICT (id) DO NOTHING
     RETURNING 1`,
    [
      events.map((e) => e.id),
      events.map((e) => e.at),
      events.map((e) => e.type),
      events.map((e) => e.actor?.id ?? null),
      events.map((e) => e.actor?.username ?? null),
      events.map((e) => e.subject?.id ?? null),
      events.map((e) => e.subject?.username ?? null),
      events.map((e) => e.ip),
      events.map((e) => e.userAgent),
      events.map((e) => (e.details ? JSON.stringify(e.details) : null)),
    ],
  );
  return rows.length;
}

/** Gives each event its id and inserts them in one statement; resolves with them as stored. */
export async function appendEvents(db: Queryable, events: NewAuditEvent[]): Promise<AuditEvent[]> {
  const stored = events.map((event): AuditEvent => ({ id: randomUUID(), ...event }));
  await insertEvents(db, stored);
  return stored;
}

export async function appendAudit(db: Queryable, event: NewAuditEvent): Promise<AuditEvent> {
  const [stored] = await appendEvents(db, [event]);
  return stored as AuditEvent;
}

/** Where a page stopped: the seq of its last event, with a format version so a later format can refuse it. */
const Cursor = z.strictObject({ v: z.literal(1), seq: z.string().regex(/^[1-9][0-9]{0,18}$/) });
const MAX_SEQ = 9223372036854775807n;

function encodeCursor(seq: string): string {
  return Buffer.from(JSON.stringify({ v: 1, seq })).toString('base64url');
}

/** The seq a cursor names; one this store could not have handed out throws InvalidCursorError (400). */
function decodeCursor(text: string): string {
  let seq: string;
  try {
    seq = Cursor.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))).seq;
  } catch {
    throw new InvalidCursorError();
  }
  // Past bigint the database would refuse the number (a 500); no row has such a seq.
  if (BigInt(seq) > MAX_SEQ) throw new InvalidCursorError();
  return seq;
}

/**
 * Up to `limit` events older than seq `before` (all when null), newest first. A user's events are
 * those where they are the actor or the subject: each side is read newest first from its own index
 * and the two merged, so the cost follows `limit`, not the log.
 */
async function eventsBefore(
  db: Queryable,
  query: AuditQuery,
  limit: number,
  before: string | null,
): Promise<Array<AuditRow & { seq: string }>> {
  const filters = '($2::text IS NULL OR type = $2) AND ($3::bigint IS NULL OR seq < $3)';
  const params = [limit, query.type ?? null, before];
  if (query.userId === undefined) {
    return db.query(
      `SELECT seq, ${COLUMNS} FROM audit_events WHERE ${filters} ORDER BY seq DESC LIMIT $1`,
      params,
    );
  }
  return db.query(
    `SELECT seq, ${COLUMNS} FROM (
       (SELECT seq, ${COLUMNS} FROM audit_events WHERE actor_id = $4 AND ${filters}
         ORDER BY seq DESC LIMIT $1)
       UNION
       (SELECT seq, ${COLUMNS} FROM audit_events WHERE subject_id = $4 AND ${filters}
         ORDER BY seq DESC LIMIT $1)
     ) AS mine ORDER BY seq DESC LIMIT $1`,
    [...params, query.userId],
  );
}

/** Newest first; `userId` matches the actor or the subject, as in lowdb. */
export async function listAudit(db: Queryable, query: AuditQuery): Promise<AuditEvent[]> {
  const limit = Math.floor(query.limit);
  if (!(limit > 0)) return [];
  return (await eventsBefore(db, query, limit, null)).map(eventFromRow);
}

/**
 * One page, newest first, by keyset on seq (the append order listAudit follows): the cursor holds
 * the last seq returned. One row more than asked says whether older ones exist, so nextCursor is
 * null exactly at the oldest event.
 */
export async function pageAudit(db: Queryable, query: AuditQuery, cursor?: string): Promise<AuditPage> {
  // An empty cursor (`?cursor=`) is the first page, as in lowdb.
  const before = cursor ? decodeCursor(cursor) : null;
  const limit = Math.floor(query.limit);
  if (!(limit > 0)) return { events: [], nextCursor: null };
  const rows = await eventsBefore(db, query, limit + 1, before);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    events: page.map(eventFromRow),
    nextCursor: rows.length > limit && last ? encodeCursor(String(last.seq)) : null,
  };
}

/** Rows read per statement of an export: a few hundred KB at a time, whatever the range holds. */
const EXPORT_BATCH = 1000;

/**
 * from <= at < to, oldest first, in batches by keyset on (at, seq) through audit_events_at
 * (migration 004): each batch is one short statement, so an export of millions neither loads them
 * at once nor holds a connection (or a transaction) while the client reads slowly. Events of one
 * instant keep their append order.
 */
export async function* exportAudit(db: Queryable, from: string, to: string): AsyncGenerator<AuditEvent> {
  // The last row's key, `at` as the database's own text so no precision is lost on the way back.
  let after: { at: string; seq: string } | null = null;
  for (;;) {
    const rows: Array<AuditRow & { seq: string; at_key: string }> = after
      ? await db.query(
          `SELECT seq, at::text AS at_key, ${COLUMNS} FROM audit_events
            WHERE at < $2 AND (at, seq) > ($3::timestamptz, $4::bigint) AND at >= $1
            ORDER BY at, seq LIMIT $5`,
          [from, to, after.at, after.seq, EXPORT_BATCH],
        )
      : await db.query(
          `SELECT seq, at::text AS at_key, ${COLUMNS} FROM audit_events
            WHERE at >= $1 AND at < $2 ORDER BY at, seq LIMIT $3`,
          [from, to, EXPORT_BATCH],
        );
    for (const row of rows) yield eventFromRow(row);
    const last = rows.at(-1);
    if (rows.length < EXPORT_BATCH || !last) return;
    after = { at: last.at_key, seq: String(last.seq) };
  }
}
