/** What the admin policy means for one user. Pure functions: the policy modes are tested here. */
import type { BackupCodeStatus, Policy, Reason } from '../../shared/api';
import type { SessionMfa, UserRecord } from '../store/types';

/** What the sign-in asks after a correct password: nothing more, a code, or enrolment of an authenticator. */
export type MfaStep = 'none' | 'verify' | 'enroll';

export function mfaStep(policy: Policy, user: UserRecord): MfaStep {
  if (!mfaApplies(policy, user)) return 'none';
  return user.mfa.enrolled && user.mfa.secret ? 'verify' : 'enroll';
}

/**
 * Whether the policy asks this user for MFA at all. "Administrators must use MFA" treats an admin as
 * under "required" in every mode: an account that can change the policy is the one to protect most.
 */
function mfaApplies(policy: Policy, user: UserRecord): boolean {
  if (policy.adminsMustUseMfa && user.role === 'admin') return true;
  if (policy.mfaUsage === 'skipped') return false;
  return policy.mfaUsage === 'required' || user.mfa.type !== 'none';
}

/**
 * Whether a session still meets the policy: one opened with a password only stops working once the
 * policy asks this user for MFA (an admin switched to "required", or turned MFA on for them). A
 * session from before the step was recorded counts as password-only.
 */
export function sessionMeetsPolicy(
  policy: Policy,
  user: UserRecord,
  passed: SessionMfa | undefined,
): boolean {
  return mfaStep(policy, user) === 'none' || (passed !== undefined && passed !== 'none');
}

/** Whether MFA applies to the user under the current policy. */
export function mfaEnabled(policy: Policy, user: UserRecord): boolean {
  return mfaStep(policy, user) !== 'none';
}

export const REASONS = {
  disabled: { code: 'backup_codes_disabled', message: 'Your administrator has not enabled backup codes.' },
  mfaSkipped: {
    code: 'mfa_skipped',
    message: 'Multifactor authentication is turned off on this server, so backup codes are not used.',
  },
  mfaOffForUser: {
    code: 'mfa_off_for_user',
    message:
      'Multifactor authentication is off for your account, so backup codes are not used. Ask your administrator to set up multifactor authentication for your account.',
  },
  notEnrolled: {
    code: 'mfa_not_configured',
    message: 'Multifactor authentication must be configured for your account first.',
  },
} satisfies Record<string, Reason>;

/** Why the user may not generate backup codes, or null when they may. */
export function backupCodeReason(policy: Policy, user: UserRecord): Reason | null {
  if (!policy.backupCodes.enabled) return REASONS.disabled;
  const step = mfaStep(policy, user);
  // An admin under "Administrators must use MFA" passes MFA even in "skipped" mode, so has codes too.
  if (step === 'none') return policy.mfaUsage === 'skipped' ? REASONS.mfaSkipped : REASONS.mfaOffForUser;
  if (step !== 'verify') return REASONS.notEnrolled;
  return null;
}

export function unusedCount(user: UserRecord): number {
  return user.backupCodes?.codes.filter((c) => c.usedAt === null).length ?? 0;
}

/** A backup code is offered at sign-in only while the policy allows them and one is left. */
export function backupCodeUsable(policy: Policy, user: UserRecord): boolean {
  return backupCodeReason(policy, user) === null && unusedCount(user) > 0;
}

export function backupCodeStatus(policy: Policy, user: UserRecord): BackupCodeStatus {
  const set = user.backupCodes;
  const reason = backupCodeReason(policy, user);
  const remaining = unusedCount(user);
  const threshold = policy.backupCodes.warnWhenRemaining;
  return {
    allowed: reason === null,
    reason,
    total: set?.codes.length ?? 0,
    remaining,
    used: set ? set.codes.filter((c) => c.usedAt !== null).map((c) => c.number) : [],
    generatedAt: set?.generatedAt ?? null,
    warn: reason === null && set !== null && threshold > 0 && remaining <= threshold,
  };
}
