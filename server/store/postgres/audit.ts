/** The audit log as rows, listed newest first through the per-user and per-type indexes. */
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../../../shared/api';
import type { AuditQuery, NewAuditEvent } from '../types';
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

export async function appendAudit(db: Queryable, event: NewAuditEvent): Promise<AuditEvent> {
  const stored: AuditEvent = { id: randomUUID(), ...event };
  await insertEvents(db, [stored]);
  return stored;
}

/**
 * Newest first. A user's events are those where they are the actor or the subject: each side is
 * read newest first from its own index, and the two merged, so the cost follows `limit`, not the log.
 */
export async function listAudit(db: Queryable, query: AuditQuery): Promise<AuditEvent[]> {
  const limit = Math.floor(query.limit);
  if (!(limit > 0)) return [];
  const type = query.type ?? null;
  const byType = '($2::text IS NULL OR type = $2)';
  const rows =
    query.userId === undefined
      ? await db.query<AuditRow>(
          `SELECT ${COLUMNS} FROM audit_events WHERE ${byType} ORDER BY seq DESC LIMIT $1`,
          [limit, type],
        )
      : await db.query<AuditRow>(
          `SELECT ${COLUMNS} FROM (
             (SELECT seq, ${COLUMNS} FROM audit_events WHERE actor_id = $3 AND ${byType}
               ORDER BY seq DESC LIMIT $1)
             UNION
             (SELECT seq, ${COLUMNS} FROM audit_events WHERE subject_id = $3 AND ${byType}
               ORDER BY seq DESC LIMIT $1)
           ) AS mine ORDER BY seq DESC LIMIT $1`,
          [limit, type, query.userId],
        );
  return rows.map(eventFromRow);
}
