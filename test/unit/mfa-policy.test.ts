import { describe, expect, it } from 'vitest';
import {
  backupCodeReason,
  backupCodeStatus,
  backupCodeUsable,
  mfaEnabled,
  mfaStep,
  sessionMeetsPolicy,
  unusedCount,
} from '../../server/services/mfa-policy';
import { OPEN_LOCKOUT } from '../../server/store/records';
import type { MfaRecord, UserRecord } from '../../server/store/types';
import { DEFAULT_POLICY, type MfaUsage, type Policy } from '../../shared/api';

const noMfa: MfaRecord = {
  type: 'none',
  secret: null,
  enrolled: false,
  configureLater: false,
  lastStep: null,
};
const enrolled: MfaRecord = {
  type: 'totp',
  secret: 'JBSWY3DPEHPK3PXP',
  enrolled: true,
  configureLater: false,
  lastStep: null,
};
const later: MfaRecord = { ...noMfa, type: 'totp', configureLater: true };

function user(mfa: MfaRecord, used = 0, total = 0): UserRecord {
  return {
    id: 'u1',
    username: 'alice',
    role: 'user',
    passwordHash: 'x',
    createdAt: '2026-01-01T00:00:00Z',
    mfa,
    backupCodes: total
      ? {
          id: 's1',
          salt: 'c2FsdA==',
          generatedAt: '2026-01-02T00:00:00Z',
          codes: Array.from({ length: total }, (_, i) => ({
            number: i + 1,
            digest: i < used ? null : 'ZGlnZXN0',
            usedAt: i < used ? '2026-01-03T00:00:00Z' : null,
          })),
        }
      : null,
    passwordLockout: OPEN_LOCKOUT,
    mfaLockout: OPEN_LOCKOUT,
  };
}

const policy = (mfaUsage: MfaUsage, enabled = true, warnWhenRemaining = 3): Policy => ({
  mfaUsage,
  backupCodes: { enabled, count: 10, warnWhenRemaining },
});

describe('which sessions a policy still accepts', () => {
  it.each([
    ['required', noMfa, 'none', false],
    ['required', noMfa, undefined, false],
    ['required', enrolled, 'none', false],
    ['required', enrolled, 'totp', true],
    ['required', enrolled, 'backup_code', true],
    ['required', later, 'enrolment', true],
    ['optional_per_user', noMfa, 'none', true],
    ['optional_per_user', enrolled, 'none', false],
    ['optional_per_user', enrolled, 'totp', true],
    ['skipped', enrolled, 'none', true],
    ['skipped', noMfa, undefined, true],
  ] as const)('%s + %o, session passed %s -> %s', (usage, mfa, passed, accepted) => {
    expect(sessionMeetsPolicy(policy(usage), user(mfa), passed)).toBe(accepted);
  });
});

describe('what each MFA usage asks of each kind of user', () => {
  it.each([
    ['required', noMfa, 'enroll'],
    ['required', later, 'enroll'],
    ['required', enrolled, 'verify'],
    ['optional_per_user', noMfa, 'none'],
    ['optional_per_user', later, 'enroll'],
    ['optional_per_user', enrolled, 'verify'],
    ['skipped', noMfa, 'none'],
    ['skipped', later, 'none'],
    ['skipped', enrolled, 'none'],
  ] as const)('%s + %o -> %s', (usage, mfa, step) => {
    expect(mfaStep(policy(usage), user(mfa))).toBe(step);
  });
});

describe('who may generate backup codes', () => {
  it('nobody while the admin has not enabled them', () => {
    expect(backupCodeReason(policy('required', false), user(enrolled))?.message).toBe(
      'Your administrator has not enabled backup codes.',
    );
  });
  it('nobody when MFA is skipped', () => {
    expect(backupCodeReason(policy('skipped'), user(enrolled))).toEqual({
      code: 'mfa_skipped',
      message: 'Multifactor authentication is turned off on this server, so backup codes are not used.',
    });
  });
  it('not a user whose MFA is not configured yet', () => {
    for (const usage of ['optional_per_user', 'required'] as const) {
      expect(backupCodeReason(policy(usage), user(later))).toEqual({
        code: 'mfa_not_configured',
        message: 'Multifactor authentication must be configured for your account first.',
      });
    }
  });
  it('not a user whose MFA is "None" under "optional per user": they read who can fix it', () => {
    expect(backupCodeReason(policy('optional_per_user'), user(noMfa))).toEqual({
      code: 'mfa_off_for_user',
      message:
        'Multifactor authentication is off for your account, so backup codes are not used. Ask your administrator to set up multifactor authentication for your account.',
    });
  });
  it('an enrolled user when enabled', () => {
    expect(backupCodeReason(policy('required'), user(enrolled))).toBeNull();
    expect(backupCodeReason(policy('optional_per_user'), user(enrolled))).toBeNull();
  });
  it('the default policy enables nothing', () => {
    expect(backupCodeReason(DEFAULT_POLICY, user(enrolled))?.code).toBe('backup_codes_disabled');
  });
});

describe('backup-code status', () => {
  it('counts remaining and lists used numbers', () => {
    const status = backupCodeStatus(policy('required'), user(enrolled, 3, 10));
    expect(status).toMatchObject({ allowed: true, total: 10, remaining: 7, used: [1, 2, 3], warn: false });
  });
  it('warns at or under the threshold, never at 0', () => {
    expect(backupCodeStatus(policy('required', true, 3), user(enrolled, 7, 10)).warn).toBe(true);
    expect(backupCodeStatus(policy('required', true, 3), user(enrolled, 6, 10)).warn).toBe(false);
    expect(backupCodeStatus(policy('required', true, 0), user(enrolled, 10, 10)).warn).toBe(false);
  });
  it('codes are offered at sign-in only while allowed and left', () => {
    expect(backupCodeUsable(policy('required'), user(enrolled, 0, 2))).toBe(true);
    expect(backupCodeUsable(policy('required'), user(enrolled, 2, 2))).toBe(false);
    expect(backupCodeUsable(policy('required', false), user(enrolled, 0, 2))).toBe(false);
  });
});

describe('backup-code status at the edges', () => {
  it('without a set: allowed, empty, and never a warning, whatever the threshold', () => {
    for (const threshold of [0, 1, 3, 10]) {
      expect(backupCodeStatus(policy('required', true, threshold), user(enrolled))).toEqual({
        allowed: true,
        reason: null,
        total: 0,
        remaining: 0,
        used: [],
        generatedAt: null,
        warn: false,
      });
    }
    expect(unusedCount(user(enrolled))).toBe(0);
    expect(backupCodeUsable(policy('required'), user(enrolled))).toBe(false);
  });

  it('with a set: its time, and the warning from exactly the threshold down to the last code', () => {
    expect(backupCodeStatus(policy('required'), user(enrolled, 2, 6))).toEqual({
      allowed: true,
      reason: null,
      total: 6,
      remaining: 4,
      used: [1, 2],
      generatedAt: '2026-01-02T00:00:00Z',
      warn: false,
    });
    const warn = (remaining: number, threshold: number) =>
      backupCodeStatus(policy('required', true, threshold), user(enrolled, 10 - remaining, 10)).warn;
    expect([warn(4, 3), warn(3, 3), warn(1, 3), warn(1, 1), warn(2, 1), warn(1, 0)]).toEqual([
      false,
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it('codes turned off: not allowed, no warning, and the set kept as it was', () => {
    const status = backupCodeStatus(policy('required', false), user(enrolled, 8, 10));
    expect(status).toMatchObject({ allowed: false, warn: false, remaining: 2, total: 10 });
    expect(status.reason?.code).toBe('backup_codes_disabled');
  });
});

describe('whether MFA applies', () => {
  it('an authenticator marked enrolled without a secret must be enrolled again', () => {
    expect(mfaStep(policy('required'), user({ ...enrolled, secret: null }))).toBe('enroll');
    expect(mfaStep(policy('required'), user({ ...enrolled, enrolled: false }))).toBe('enroll');
  });

  it('is on whenever the sign-in asks for a code or an enrolment', () => {
    expect(mfaEnabled(policy('required'), user(enrolled))).toBe(true);
    expect(mfaEnabled(policy('required'), user(noMfa))).toBe(true);
    expect(mfaEnabled(policy('optional_per_user'), user(noMfa))).toBe(false);
    expect(mfaEnabled(policy('skipped'), user(enrolled))).toBe(false);
  });
});

describe('"Administrators must use MFA"', () => {
  const admin = (mfa: MfaRecord): UserRecord => ({ ...user(mfa), role: 'admin' });
  const strict = (usage: MfaUsage): Policy => ({ ...policy(usage), adminsMustUseMfa: true });

  it.each([
    ['required', noMfa, 'enroll'],
    ['optional_per_user', noMfa, 'enroll'],
    ['optional_per_user', later, 'enroll'],
    ['optional_per_user', enrolled, 'verify'],
    ['skipped', noMfa, 'enroll'],
    ['skipped', enrolled, 'verify'],
  ] as const)('on: an admin under %s + %o -> %s', (usage, mfa, step) => {
    expect(mfaStep(strict(usage), admin(mfa))).toBe(step);
    expect(mfaEnabled(strict(usage), admin(mfa))).toBe(true);
  });

  it('on: a plain user is asked what the mode asks of them', () => {
    expect(mfaStep(strict('optional_per_user'), user(noMfa))).toBe('none');
    expect(mfaStep(strict('skipped'), user(enrolled))).toBe('none');
    expect(mfaStep(strict('required'), user(noMfa))).toBe('enroll');
  });

  it('off (and absent, as in a policy saved before it existed): an admin is treated like anyone', () => {
    expect(mfaStep({ ...policy('optional_per_user'), adminsMustUseMfa: false }, admin(noMfa))).toBe('none');
    expect(mfaStep(policy('optional_per_user'), admin(noMfa))).toBe('none');
    expect(mfaStep(policy('skipped'), admin(enrolled))).toBe('none');
  });

  it('on: an admin with an authenticator may have backup codes even in "skipped" mode; others may not', () => {
    expect(backupCodeReason(strict('skipped'), admin(enrolled))).toBeNull();
    expect(backupCodeReason(strict('skipped'), admin(noMfa))?.code).toBe('mfa_not_configured');
    expect(backupCodeReason(strict('skipped'), user(enrolled))?.code).toBe('mfa_skipped');
    expect(
      backupCodeReason(
        { ...strict('skipped'), backupCodes: { ...policy('skipped').backupCodes, enabled: false } },
        admin(enrolled),
      )?.code,
    ).toBe('backup_codes_disabled');
  });

  it('on: a password-only session of an admin no longer meets the policy', () => {
    expect(sessionMeetsPolicy(strict('optional_per_user'), admin(enrolled), 'none')).toBe(false);
    expect(sessionMeetsPolicy(strict('optional_per_user'), admin(enrolled), 'totp')).toBe(true);
    expect(sessionMeetsPolicy(policy('optional_per_user'), admin(noMfa), 'none')).toBe(true);
  });
});
