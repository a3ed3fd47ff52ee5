/**
 * The two brakes on guessing, at their edges: which failures count towards the account lockout, when it
 * starts and ends to the millisecond, and when one client address is refused. Real lowdb store, fake clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiError } from '../../server/http/errors';
import {
  ensureAddressAllowed,
  mfaLockRemaining,
  recordAddressFailure,
  withMfaFailure,
  withMfaSuccess,
} from '../../server/services/throttle';
import { newUserRecord } from '../../server/services/users';
import type { UserRecord } from '../../server/store/types';
import { buildTestApp, type TestApp } from '../support/fakes';

const MINUTE = 60_000;
let t: TestApp;
let alice: UserRecord;

beforeEach(async () => {
  t = await buildTestApp({
    mfaLockoutAttempts: 5,
    mfaLockoutWindowMs: 15 * MINUTE,
    mfaLockoutMs: 10 * MINUTE,
    ipFailureLimit: 3,
    ipFailureWindowMs: 15 * MINUTE,
  });
  alice = await newUserRecord(t.deps, 'alice', 'alice-password', 'user');
});
afterEach(async () => {
  await t.close();
});

const iso = (ms: number) => new Date(ms).toISOString();
/** Alice with failures the given number of milliseconds ago. */
const failedAgo = (...agoMs: number[]): UserRecord => ({
  ...alice,
  mfaFailures: agoMs.map((ago) => iso(t.clock.now() - ago)),
});

async function refusal(ip: string | null): Promise<ApiError | null> {
  try {
    await ensureAddressAllowed(t.deps, ip);
    return null;
  } catch (error) {
    return error as ApiError;
  }
}

describe('the per-account MFA lockout', () => {
  it('the 5th failure inside the window locks the step for exactly the lockout time, and forgets the failures', () => {
    const { user, locked } = withMfaFailure(t.deps, failedAgo(14 * MINUTE, 3 * MINUTE, MINUTE, 1));
    expect(locked).toBe(true);
    expect(user.mfaLockedUntil).toBe(iso(t.clock.now() + 10 * MINUTE));
    expect(user.mfaFailures).toEqual([]);
    expect(mfaLockRemaining(user, t.clock.now())).toBe(10 * MINUTE);
  });

  it('the 4th failure records itself after the earlier ones and does not lock', () => {
    const before = failedAgo(2 * MINUTE, MINUTE, 1);
    const { user, locked } = withMfaFailure(t.deps, before);
    expect(locked).toBe(false);
    expect(user.mfaLockedUntil).toBeNull();
    expect(user.mfaFailures).toEqual([...before.mfaFailures, iso(t.clock.now())]);
    expect(mfaLockRemaining(user, t.clock.now())).toBe(0);
  });

  it('a failure exactly one window ago no longer counts, one a millisecond younger does', () => {
    const outside = withMfaFailure(t.deps, failedAgo(15 * MINUTE, 3 * MINUTE, 2 * MINUTE, MINUTE));
    expect(outside.locked).toBe(false);
    expect(outside.user.mfaFailures).toEqual([
      iso(t.clock.now() - 3 * MINUTE),
      iso(t.clock.now() - 2 * MINUTE),
      iso(t.clock.now() - MINUTE),
      iso(t.clock.now()),
    ]);

    const inside = withMfaFailure(t.deps, failedAgo(15 * MINUTE - 1, 3 * MINUTE, 2 * MINUTE, MINUTE));
    expect(inside.locked).toBe(true);
  });

  it('failures spread wider than the window never lock, however many there are', () => {
    let user = alice;
    for (let i = 0; i < 12; i++) {
      const next = withMfaFailure(t.deps, user);
      expect(next.locked).toBe(false);
      user = next.user;
      t.clock.advance(4 * MINUTE);
    }
    // Only the failures younger than 15 minutes are kept: the last one and those 4, 8 and 12 minutes before it.
    expect(user.mfaFailures).toHaveLength(4);
  });

  it('the lock ends at its exact millisecond', () => {
    const { user } = withMfaFailure(t.deps, failedAgo(4, 3, 2, 1));
    const until = Date.parse(user.mfaLockedUntil ?? '');
    expect(mfaLockRemaining(user, until - 1)).toBe(1);
    expect(mfaLockRemaining(user, until)).toBe(0);
    expect(mfaLockRemaining(user, until + MINUTE)).toBe(0);
  });

  it('a success clears the failures and the lock', () => {
    const locked = withMfaFailure(t.deps, failedAgo(4, 3, 2, 1)).user;
    const cleared = withMfaSuccess({ ...locked, mfaFailures: [iso(t.clock.now())] });
    expect(cleared.mfaFailures).toEqual([]);
    expect(cleared.mfaLockedUntil).toBeNull();
    expect(mfaLockRemaining(cleared, t.clock.now())).toBe(0);
    expect(cleared.username).toBe('alice');
  });
});

describe('the per-address throttle', () => {
  it('refuses an address at its limit of failures, with a retry time of the window, and no other address', async () => {
    for (let i = 0; i < 2; i++) await recordAddressFailure(t.deps, '203.0.113.9');
    expect(await refusal('203.0.113.9')).toBeNull();
    await recordAddressFailure(t.deps, '203.0.113.9');

    const refused = await refusal('203.0.113.9');
    expect(refused?.status).toBe(429);
    expect(refused?.code).toBe('too_many_attempts');
    expect(refused?.extras.retryAfter).toBe(15 * 60);
    expect(await refusal('198.51.100.7')).toBeNull();
  });

  it('lets the address in again once its oldest failure is older than the window', async () => {
    for (let i = 0; i < 3; i++) {
      await recordAddressFailure(t.deps, '203.0.113.9');
      t.clock.advance(MINUTE);
    }
    // The failures were at 0, 1 and 2 minutes; now it is 3 minutes.
    t.clock.advance(12 * MINUTE);
    expect((await refusal('203.0.113.9'))?.status).toBe(429);
    t.clock.advance(1);
    expect(await refusal('203.0.113.9')).toBeNull();
  });

  it('a request without a known address is neither counted nor refused', async () => {
    for (let i = 0; i < 5; i++) await recordAddressFailure(t.deps, null);
    expect(await refusal(null)).toBeNull();
    expect(await t.deps.store.countIpFailures('', iso(0))).toBe(0);
  });
});
