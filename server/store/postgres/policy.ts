/** The admin policy: one row, read on every call so a change made through any instance applies at once. */
import { DEFAULT_POLICY, type Policy, type SavedPolicy } from '../../../shared/api';
import { PolicySchema } from '../records';
import type { Queryable } from './db';

interface PolicyRow {
  mfa_usage: Policy['mfaUsage'];
  backup_codes_enabled: boolean;
  backup_codes_count: number;
  warn_when_remaining: number;
  admins_must_use_mfa: boolean;
}

export async function getPolicy(db: Queryable): Promise<SavedPolicy> {
  const [row] = await db.query<PolicyRow>(
    'SELECT mfa_usage, backup_codes_enabled, backup_codes_count, warn_when_remaining, admins_must_use_mfa FROM policy',
  );
  if (!row) return structuredClone(DEFAULT_POLICY);
  return {
    mfaUsage: row.mfa_usage,
    backupCodes: {
      enabled: row.backup_codes_enabled,
      count: row.backup_codes_count,
      warnWhenRemaining: row.warn_when_remaining,
    },
    adminsMustUseMfa: row.admins_must_use_mfa,
  };
}

/** Whether a policy was ever saved (the migration from lowdb copies one only into a database without). */
export async function hasPolicy(db: Queryable): Promise<boolean> {
  return (await db.query('SELECT 1 FROM policy')).length > 0;
}

export async function setPolicy(db: Queryable, policy: Policy): Promise<void> {
  const checked = PolicySchema.parse(policy);
  await db.query(
    `INSERT INTO policy
       (singleton, mfa_usage, backup_codes_enabled, backup_codes_count, warn_when_remaining, admins_must_use_mfa)
     VALUES (true, $1, $2, $3, $4, $5)
     ON CONFLICT (singleton) DO UPDATE
       SET mfa_usage = EXCLUDED.mfa_usage, backup_codes_enabled = EXCLUDED.backup_codes_enabled,
           backup_codes_count = EXCLUDED.backup_codes_count, warn_when_remaining = EXCLUDED.warn_when_remaining,
           admins_must_use_mfa = EXCLUDED.admins_must_use_mfa`,
    [
      checked.mfaUsage,
      checked.backupCodes.enabled,
      checked.backupCodes.count,
      checked.backupCodes.warnWhenRemaining,
      checked.adminsMustUseMfa,
    ],
  );
}
