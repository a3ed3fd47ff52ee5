/**
 * Copies a lowdb store into PostgreSQL: the policy, the users with their password hashes, TOTP
 * secrets, backup-code sets, lockouts and forced password changes, the audit log, and the OpenID
 * Connect applications and keys (so tokens signed before the move still verify). Sessions,
 * challenges, per-address attempts and the provider's records (its sessions, grants, codes) are not
 * copied: users sign in again. Idempotent: what the target already holds from this source is
 * left as it is; a target holding anything else is refused, so two stores are never mixed.
 */
import { isDeepStrictEqual } from 'node:util';
import type { AuditEvent } from '../../../shared/api';
import type { LowdbStore } from '../lowdb';
import type { UserRecord } from '../types';
import { insertEvents } from './audit';
import type { PostgresStore } from './index';
import { hasPolicy } from './policy';

/** Rows per transaction: big enough to be quick, small enough to keep each transaction short. */
const BATCH = 500;

export class TargetHoldsOtherDataError extends Error {
  constructor(users: number, events: number) {
    super(
      `The target database holds data that did not come from this DATA_DIR (${users} users, ${events} audit ` +
        'events). Refusing to mix two stores: migrate into an empty database (do not start the server on it first).',
    );
    this.name = 'TargetHoldsOtherDataError';
  }
}

export interface CopyReport {
  policy: 'copied' | 'already there' | 'kept (changed in the target since)';
  users: { copied: number; alreadyThere: number; checked: number };
  codes: { sets: number; codes: number; spent: number };
  auditEvents: { copied: number; alreadyThere: number; checked: number };
  applications: { copied: number; alreadyThere: number };
  oidcKeys: 'copied' | 'already there' | 'kept (the target has its own)' | 'none';
}

/** Compares records as stored: a field absent and a field undefined are the same. */
const same = (a: unknown, b: unknown) =>
  isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size),
  );
}

export async function copyLowdbToPostgres(source: LowdbStore, target: PostgresStore): Promise<CopyReport> {
  const users = await source.listUsers();
  const expected = await source.countUsers();
  if (users.length !== expected) {
    throw new Error(
      `${expected - users.length} user files in DATA_DIR cannot be read (see above); nothing was copied.`,
    );
  }
  // Oldest first, so the target lists them in the same order.
  const events = (await source.listAudit({ limit: Number.MAX_SAFE_INTEGER })).reverse();

  const sourceUsers = new Map(users.map((user) => [user.id, user]));
  const targetUsers = await target.listUsers();
  const foreignUsers = targetUsers.filter((user) => sourceUsers.get(user.id)?.username !== user.username);
  const sourceEventIds = new Set(events.map((event) => event.id));
  const targetEventIds = (await target.db.query<{ id: string }>('SELECT id FROM audit_events')).map(
    (row) => row.id,
  );
  const foreignEvents = targetEventIds.filter((id) => !sourceEventIds.has(id));
  if (foreignUsers.length > 0 || foreignEvents.length > 0) {
    throw new TargetHoldsOtherDataError(foreignUsers.length, foreignEvents.length);
  }

  const policy = await source.getPolicy();
  let policyOutcome: CopyReport['policy'] = 'already there';
  if (!(await hasPolicy(target.db))) {
    await target.setPolicy(policy);
    policyOutcome = 'copied';
  } else if (!same(await target.getPolicy(), policy)) {
    policyOutcome = 'kept (changed in the target since)';
  }

  const present = new Set(targetUsers.map((user) => user.id));
  const missing = users.filter((user) => !present.has(user.id));
  for (const batch of chunks(missing, BATCH)) await target.createUsers(batch);

  const targetApps = new Map((await target.listApplications()).map((app) => [app.id, app]));
  const sourceApps = await source.listApplications();
  const missingApps = sourceApps.filter((app) => !targetApps.has(app.id));
  for (const app of missingApps) await target.createApplication(app);
  const wrongApps = sourceApps.filter((app) => targetApps.has(app.id) && !same(targetApps.get(app.id), app));
  if (wrongApps.length > 0) {
    throw new Error(`${wrongApps.length} applications differ from DATA_DIR (changed in the target since?).`);
  }

  const sourceKeys = await source.getOidcKeys();
  let oidcKeys: CopyReport['oidcKeys'] = 'none';
  if (sourceKeys && same(await target.getOidcKeys(), sourceKeys)) oidcKeys = 'already there';
  else if (sourceKeys) {
    // Under the key row's lock: a server already started on the target keeps the set it made.
    const stored = await target.updateOidcKeys((current) => (current ? null : sourceKeys));
    oidcKeys = same(stored, sourceKeys) ? 'copied' : 'kept (the target has its own)';
  }

  let eventsCopied = 0;
  for (const batch of chunks(events, BATCH)) eventsCopied += await insertEvents(target.db, batch);

  // Checked by reading everything back through the store, as the server will read it.
  const copiedUsers = new Map((await target.listUsers()).map((user) => [user.id, user]));
  const wrongUsers = users.filter((user) => !same(copiedUsers.get(user.id), user));
  const copiedEvents = new Map(
    (await target.listAudit({ limit: Number.MAX_SAFE_INTEGER })).map((event) => [event.id, event]),
  );
  const wrongEvents = events.filter((event: AuditEvent) => !same(copiedEvents.get(event.id), event));
  if (wrongUsers.length > 0 || wrongEvents.length > 0) {
    throw new Error(
      `The copy differs from DATA_DIR for ${wrongUsers.length} users and ${wrongEvents.length} audit events ` +
        '(changed in the target since an earlier copy?).',
    );
  }

  const sets = users.flatMap((user: UserRecord) => (user.backupCodes ? [user.backupCodes] : []));
  return {
    policy: policyOutcome,
    users: { copied: missing.length, alreadyThere: users.length - missing.length, checked: users.length },
    codes: {
      sets: sets.length,
      codes: sets.reduce((n, set) => n + set.codes.length, 0),
      spent: sets.reduce((n, set) => n + set.codes.filter((code) => code.usedAt !== null).length, 0),
    },
    auditEvents: { copied: eventsCopied, alreadyThere: events.length - eventsCopied, checked: events.length },
    applications: { copied: missingApps.length, alreadyThere: sourceApps.length - missingApps.length },
    oidcKeys,
  };
}
