/**
 * The brakes on guessing.
 *
 * Per client address (an IPv6 client is its whole /64): every password or code attempt first reserves
 * a slot under the address's lock, before any hashing; a failure keeps its slot, a success (or a
 * refusal before any secret was judged) gives it back. So at most IP_FAILURE_LIMIT attempts per window
 * are ever judged or in flight from one address, however many arrive at once. The limit is high
 * because an office can share one address.
 *
 * Per account, one lockout for the password and one for the MFA step (NIST SP 800-63B 5.2.2; 5.1.2
 * for look-up secrets under 64 bits): `attempts` failures inside the window lock the step. Each lock
 * without a success in between lasts twice the one before, up to lockoutMaxMs, so guessing slows to a
 * few tries a day; after adminUnlockAfter (100) consecutive failures only an administrator's unlock
 * opens the account, and the admin sees it in the users list and the audit log.
 */
import type { SecurityConfig } from '../config';
import type { Deps } from '../deps';
import { addressGroup } from '../http/context';
import { ApiError, tooManyAttempts } from '../http/errors';
import { OPEN_LOCKOUT } from '../store/records';
import type { Lockout } from '../store/types';

export { OPEN_LOCKOUT };

const iso = (ms: number) => new Date(ms).toISOString();

/** A reserved attempt of one client, to give back with releaseAddressAttempt when it did not fail. */
export interface AddressAttempt {
  /** The client's address, or its /64 for IPv6. */
  ip: string;
  at: string;
}

/**
 * Reserves one attempt for the client at `address` under its lock, or throws 429 when its window is
 * full. An IPv6 client is its whole /64 (addressGroup).
 */
export async function reserveAddressAttempt(
  deps: Deps,
  address: string | null,
): Promise<AddressAttempt | null> {
  if (!address) return null;
  const ip = addressGroup(address);
  const { ipFailureLimit, ipFailureWindowMs } = deps.security;
  const now = deps.clock.now();
  const at = iso(now);
  if (!(await deps.store.reserveIpAttempt(ip, iso(now - ipFailureWindowMs), ipFailureLimit, at))) {
    throw tooManyAttempts(ipFailureWindowMs);
  }
  return { ip, at };
}

/**
 * Resolves once the reserved slot survives a restart (Store.keepIpAttempts): a failure keeps it, and
 * is answered only after this.
 */
export async function keepAddressAttempt(deps: Deps, attempt: AddressAttempt | null): Promise<void> {
  if (attempt) await deps.store.keepIpAttempts(attempt.ip);
}

/** Gives the slot back: the attempt succeeded, or it was refused before any secret was judged. */
export async function releaseAddressAttempt(deps: Deps, attempt: AddressAttempt | null): Promise<void> {
  if (attempt) await deps.store.releaseIpAttempt(attempt.ip, attempt.at);
}

export interface LockoutRule {
  attempts: number;
  windowMs: number;
  /** The first lock's length. */
  lockMs: number;
  maxLockMs: number;
  adminUnlockAfter: number;
}

export function passwordRule(security: SecurityConfig): LockoutRule {
  return {
    attempts: security.passwordLockoutAttempts,
    windowMs: security.passwordLockoutWindowMs,
    lockMs: security.passwordLockoutMs,
    maxLockMs: security.lockoutMaxMs,
    adminUnlockAfter: security.adminUnlockAfter,
  };
}

export function mfaRule(security: SecurityConfig): LockoutRule {
  return {
    attempts: security.mfaLockoutAttempts,
    windowMs: security.mfaLockoutWindowMs,
    lockMs: security.mfaLockoutMs,
    maxLockMs: security.lockoutMaxMs,
    adminUnlockAfter: security.adminUnlockAfter,
  };
}

/** The length of the `n`th lock in a row (1-based): lockMs, twice that, four times… up to maxLockMs. */
export function lockLength(rule: LockoutRule, n: number): number {
  return Math.min(rule.maxLockMs, rule.lockMs * 2 ** Math.min(n - 1, 30));
}

export type LockState =
  | { kind: 'open' }
  | { kind: 'locked'; remainingMs: number }
  /** Only an administrator's unlock opens it. */
  | { kind: 'admin' };

export function lockState(lockout: Lockout, now: number): LockState {
  if (lockout.needsAdminUnlock) return { kind: 'admin' };
  const remainingMs = lockout.lockedUntil ? Date.parse(lockout.lockedUntil) - now : 0;
  return remainingMs > 0 ? { kind: 'locked', remainingMs } : { kind: 'open' };
}

export const accountLocked = () =>
  new ApiError(
    429,
    'account_locked',
    'Too many failed attempts: this account is locked until an administrator unlocks it.',
  );

/** The error for a step that is locked (or, for `open`, whose window is full of attempts in flight). */
export function lockRefusal(state: LockState, retryMs: number): ApiError {
  if (state.kind === 'admin') return accountLocked();
  return tooManyAttempts(state.kind === 'locked' ? state.remainingMs : retryMs);
}

/**
 * Whether a failure is inside the window. Every time stored is iso()'s one fixed-width UTC form, so
 * comparing the text orders them as the instants do, without parsing each entry on every attempt.
 */
const inWindow = (rule: LockoutRule, now: number) => {
  const windowStart = iso(now - rule.windowMs);
  return (at: string) => at > windowStart;
};

/**
 * Reserves an attempt in the account's window before hashing, under the user's lock (updateUser):
 * refused when the step is locked or the window already holds `attempts` failures and attempts in
 * flight, so concurrent guesses cannot exceed the limit. The reservation is the failure if it fails.
 */
export function withReservation(
  lockout: Lockout,
  rule: LockoutRule,
  now: number,
): { lockout: Lockout; refusal: ApiError | null } {
  const state = lockState(lockout, now);
  const failures = lockout.failures.filter(inWindow(rule, now));
  if (state.kind !== 'open') return { lockout, refusal: lockRefusal(state, 0) };
  if (failures.length >= rule.attempts) {
    const oldest = Date.parse(failures[0] ?? iso(now));
    return { lockout, refusal: tooManyAttempts(oldest + rule.windowMs - now) };
  }
  return { lockout: { ...lockout, failures: [...failures, iso(now)] }, refusal: null };
}

export type FailureOutcome =
  | { kind: 'counted' }
  | { kind: 'locked'; lockMs: number; lock: number }
  | { kind: 'admin'; consecutiveFailures: number };

/**
 * The lockout after one more failure. `reserved`: the attempt already sits in the window (the
 * password step reserves before hashing); otherwise it is added now (the MFA step decides under the
 * user's lock after hashing, so that a duplicate of a code just spent can be told from a wrong one).
 */
export function withFailure(
  lockout: Lockout,
  rule: LockoutRule,
  now: number,
  reserved: boolean,
): { lockout: Lockout; outcome: FailureOutcome } {
  const failures = lockout.failures.filter(inWindow(rule, now));
  if (!reserved) failures.push(iso(now));
  const consecutiveFailures = lockout.consecutiveFailures + 1;
  if (consecutiveFailures >= rule.adminUnlockAfter) {
    return {
      lockout: { ...lockout, failures: [], lockedUntil: null, consecutiveFailures, needsAdminUnlock: true },
      outcome: { kind: 'admin', consecutiveFailures },
    };
  }
  if (failures.length >= rule.attempts) {
    const lock = lockout.locks + 1;
    const lockMs = lockLength(rule, lock);
    return {
      lockout: { ...lockout, failures: [], lockedUntil: iso(now + lockMs), locks: lock, consecutiveFailures },
      outcome: { kind: 'locked', lockMs, lock },
    };
  }
  return { lockout: { ...lockout, failures, consecutiveFailures }, outcome: { kind: 'counted' } };
}

/** A success ends the run of failures: the window, the escalation and the consecutive count start over. */
export function withSuccess(): Lockout {
  return OPEN_LOCKOUT;
}
