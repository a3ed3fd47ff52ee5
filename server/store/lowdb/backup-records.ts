/**
 * What a lowdb store puts in a backup (../backup.ts says the archive's format) and how a backup is
 * replayed into an empty one.
 */
import type { AuditEvent } from '../../../shared/api';
import { type BackupCounts, type BackupItem, countItem, emptyCounts } from '../backup';
import type { StoreSecrets } from '../secrets';
import type { UserRecord } from '../types';
import type { AuditLog } from './audit-log';
import type { LowdbOidcStore } from './oidc';
import type { LowdbPolicy } from './policy';
import { logError, mapLimit, READ_CONCURRENCY } from './record-files';
import type { LowdbUsers } from './users';

/** The concerns of one open store that a backup reads or a restore writes. */
export interface BackupParts {
  dir: string;
  policy: LowdbPolicy;
  users: LowdbUsers;
  audit: AuditLog;
  oidc: LowdbOidcStore;
  /** The storage key's sealing, and the id of the key the store's secrets are under (null: none). */
  sealing: { secrets: StoreSecrets; keyId: () => string | null };
}

/**
 * The store's records for a backup, read while the server runs. Each account is read under its own
 * lock, so a spend is either wholly in the backup or not at all, and a sign-in waits at most for
 * one file read; the audit log is read up to where it stood when its turn came. An account created
 * after the backup began is not in it; one deleted meanwhile is left out. The OpenID Connect
 * applications and key set come next to the policy (each file is replaced whole, so a read sees one
 * version); the provider's short-lived records are left out (../backup.ts).
 */
export async function* exportBackup({
  policy,
  users,
  audit,
  oidc,
  sealing,
}: BackupParts): AsyncGenerator<BackupItem> {
  // Secrets leave sealed, as they are stored: a backup is no way around the storage key (../backup.ts).
  const keyId = sealing.keyId();
  if (keyId !== null) yield { kind: 'sealed_under', keyId };
  yield { kind: 'policy', policy: policy.getPolicy() };
  for (const application of await oidc.listApplications()) yield { kind: 'application', application };
  const keys = await oidc.getOidcKeys();
  if (keys) {
    const stored = sealing.secrets.sealOidcKeys(keyId, keys);
    yield 'sealed' in stored
      ? { kind: 'oidc_keys_sealed', sealed: stored.sealed }
      : { kind: 'oidc_keys', keys };
  }
  for await (const item of users.backupItems()) {
    if (item.kind !== 'user') {
      yield item;
      continue;
    }
    const secret = sealing.secrets.sealTotp(keyId, item.user.id, item.user.mfa.secret);
    yield { kind: 'user', user: { ...item.user, mfa: { ...item.user.mfa, secret } } };
  }
  const damaged = { lines: 0 };
  for await (const event of audit.events(damaged)) yield { kind: 'audit', event };
  if (damaged.lines > 0) logError('damaged audit lines left out of the backup', String(damaged.lines));
}

/** Replays a backup into the store, which must be empty (no account, audit event, application or key). */
export async function importBackup(
  { dir, policy, users, audit, oidc }: BackupParts,
  items: AsyncIterable<BackupItem>,
): Promise<BackupCounts> {
  if (
    users.size > 0 ||
    (await audit.list({ limit: 1 })).length > 0 ||
    (await oidc.listApplications()).length > 0 ||
    (await oidc.getOidcKeys()) !== null
  ) {
    throw new Error(`${dir} is not empty: a backup is restored only into an empty DATA_DIR.`);
  }
  const counts = emptyCounts();
  // Written a batch at a time: the files in parallel, the index and log lines by group commit.
  let batchUsers: UserRecord[] = [];
  let events: AuditEvent[] = [];
  const flush = async () => {
    await mapLimit(batchUsers, READ_CONCURRENCY, (user) => users.createUser(user));
    await Promise.all(events.map((event) => audit.append(event)));
    batchUsers = [];
    events = [];
  };
  for await (const item of items) {
    countItem(counts, item);
    if (item.kind === 'policy') await policy.setPolicy(item.policy);
    if (item.kind === 'application') await oidc.createApplication(item.application);
    if (item.kind === 'oidc_keys') await oidc.updateOidcKeys(() => item.keys);
    if (item.kind === 'user') batchUsers.push(item.user);
    if (item.kind === 'audit') events.push(item.event);
    if (batchUsers.length + events.length >= 256) await flush();
  }
  await flush();
  return counts;
}
