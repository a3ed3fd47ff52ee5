/**
 * What the account view says about backup codes at the edges the policy tests leave: no set yet, the
 * warning threshold, a half-enrolled authenticator, and whether MFA applies at all.
 */
import { describe, expect, it } from 'vitest';
import {
  backupCodeStatus,
  backupCodeUsable,
  mfaEnabled,
  mfaStep,
  unusedCount,
} from '../../server/services/mfa-policy';
import type { MfaRecord, UserRecord } from '../../server/store/types';
import type { MfaUsage, Policy } from '../../shared/api';

const enrolled: MfaRecord = {
  type: 'totp',
  secret: 'JBSWY3DPEHPK3PXP',
  enrolled: true,
  configureLater: false,
  lastStep: null,
};
const GENERATED = '2026-01-02T00:00:00.000Z';

/** A user whose set has `total` codes, the numbers in `used` spent. */
function user(mfa: MfaRecord, set: { total: number; used: number[] } | null): UserRecord {
  return {
    id: 'u1',
    username: 'alice',
    role: 'user',
    passwordHash: 'x',
    createdAt: '2026-01-01T00:00:00.000Z',
    mfa,
    backupCodes: set && {
      id: 's1',
      salt: 'c2FsdA==',
      generatedAt: GENERATED,
      codes: Array.from({ length: set.total }, (_, i) => {
        const spent = set.used.includes(i + 1);
        return { number: i + 1, digest: spent ? null : 'ZGlnZXN0', usedAt: spent ? GENERATED : null };
      }),
    },
    mfaFailures: [],
    mfaLockedUntil: null,
  };
}
const policy = (mfaUsage: MfaUsage, enabled = true, warnWhenRemaining = 3): Policy => ({
  mfaUsage,
  backupCodes: { enabled, count: 10, warnWhenRemaining },
});

describe('the status of a user without a set', () => {
  it('is allowed, empty, and never warns, whatever the threshold', () => {
    for (const threshold of [0, 1, 3, 10]) {
      expect(backupCodeStatus(policy('required', true, threshold), user(enrolled, null))).toEqual({
        allowed: true,
        reason: null,
        total: 0,
        remaining: 0,
        used: [],
        generatedAt: null,
        warn: false,
      });
    }
  });

  it('offers no backup code at sign-in', () => {
    expect(unusedCount(user(enrolled, null))).toBe(0);
    expect(backupCodeUsable(policy('required'), user(enrolled, null))).toBe(false);
  });
});

describe('the status of a user with a set', () => {
  it('lists the spent numbers in order, whichever were spent', () => {
    const status = backupCodeStatus(policy('required'), user(enrolled, { total: 6, used: [2, 5] }));
    expect(status).toEqual({
      allowed: true,
      reason: null,
      total: 6,
      remaining: 4,
      used: [2, 5],
      generatedAt: GENERATED,
      warn: false,
    });
  });

  it('warns from exactly the threshold down to the last code, and from no earlier', () => {
    const at = (remaining: number, threshold: number) =>
      backupCodeStatus(
        policy('required', true, threshold),
        user(enrolled, { total: 10, used: Array.from({ length: 10 - remaining }, (_, i) => i + 1) }),
      ).warn;
    expect(at(4, 3)).toBe(false);
    expect(at(3, 3)).toBe(true);
    expect(at(1, 3)).toBe(true);
    expect(at(1, 1)).toBe(true);
    expect(at(2, 1)).toBe(false);
    // A threshold of 0 turns the warning off.
    expect(at(1, 0)).toBe(false);
  });

  it('does not warn, and is not allowed, once the admin turns backup codes off', () => {
    const status = backupCodeStatus(
      policy('required', false),
      user(enrolled, { total: 10, used: [1, 2, 3, 4, 5, 6, 7, 8] }),
    );
    expect(status.allowed).toBe(false);
    expect(status.reason?.code).toBe('backup_codes_disabled');
    expect(status.warn).toBe(false);
    // The set still counts what is left: turning codes back on restores it as it was.
    expect(status.remaining).toBe(2);
    expect(status.total).toBe(10);
  });
});

describe('whether MFA applies', () => {
  it('an authenticator marked enrolled without a secret must be enrolled again', () => {
    expect(mfaStep(policy('required'), user({ ...enrolled, secret: null }, null))).toBe('enroll');
    expect(mfaStep(policy('required'), user({ ...enrolled, enrolled: false }, null))).toBe('enroll');
  });

  it('is on for everyone asked for a code or an enrolment, off when nothing is asked', () => {
    const none: MfaRecord = { ...enrolled, type: 'none', secret: null, enrolled: false };
    expect(mfaEnabled(policy('required'), user(enrolled, null))).toBe(true);
    expect(mfaEnabled(policy('required'), user(none, null))).toBe(true);
    expect(mfaEnabled(policy('optional_per_user'), user(none, null))).toBe(false);
    expect(mfaEnabled(policy('skipped'), user(enrolled, null))).toBe(false);
  });
});
