/**
 * Two brakes on guessing. Per account: a few wrong MFA codes lock that account's MFA step
 * (NIST SP 800-63B 5.1.2: look-up secrets under 64 bits need rate limiting). Per client address:
 * many failures across any accounts slow a spraying attacker; the limit is high because an office
 * can share one address.
 */
import type { Deps } from '../deps';
import { tooManyAttempts } from '../http/errors';
import type { UserRecord } from '../store/types';

export async function ensureAddressAllowed(deps: Deps, ip: string | null): Promise<void> {
  if (!ip) return;
  const { ipFailureLimit, ipFailureWindowMs } = deps.security;
  const since = deps.clock.now() - ipFailureWindowMs;
  const failures = await deps.store.countIpFailures(ip, new Date(since).toISOString());
  if (failures >= ipFailureLimit) throw tooManyAttempts(ipFailureWindowMs);
}

export async function recordAddressFailure(deps: Deps, ip: string | null): Promise<void> {
  if (ip) await deps.store.addIpFailure(ip, new Date(deps.clock.now()).toISOString());
}

/** Milliseconds until the account's MFA step unlocks; 0 when it is open. */
export function mfaLockRemaining(user: UserRecord, now: number): number {
  if (!user.mfaLockedUntil) return 0;
  return Math.max(0, Date.parse(user.mfaLockedUntil) - now);
}

/** The record after one more failed MFA attempt, and whether that attempt locked the step. */
export function withMfaFailure(deps: Deps, user: UserRecord): { user: UserRecord; locked: boolean } {
  const now = deps.clock.now();
  const { mfaLockoutAttempts, mfaLockoutWindowMs, mfaLockoutMs } = deps.security;
  const recent = user.mfaFailures.filter((at) => now - Date.parse(at) < mfaLockoutWindowMs);
  recent.push(new Date(now).toISOString());
  if (recent.length >= mfaLockoutAttempts) {
    return {
      user: { ...user, mfaFailures: [], mfaLockedUntil: new Date(now + mfaLockoutMs).toISOString() },
      locked: true,
    };
  }
  return { user: { ...user, mfaFailures: recent, mfaLockedUntil: null }, locked: false };
}

export function withMfaSuccess(user: UserRecord): UserRecord {
  return { ...user, mfaFailures: [], mfaLockedUntil: null };
}
