/**
 * The two brakes on guessing, at their edges: which failures count towards an account lockout, when a
 * lock starts and ends to the millisecond, how locks escalate, when only an administrator opens the
 * account, and when one client address is refused. Pure lockout functions; real lowdb store, fake clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addressGroup } from '../../server/http/context';
import type { ApiError } from '../../server/http/errors';
import {
  type LockoutRule,
  lockLength,
  lockRefusal,
  lockState,
  mfaRule,
  OPEN_LOCKOUT,
  passwordRule,
  releaseAddressAttempt,
  reserveAddressAttempt,
  withFailure,
  withReservation,
  withSuccess,
} from '../../server/services/throttle';
import type { Lockout } from '../../server/store/types';
import { buildTestApp, type TestApp } from '../support/fakes';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const rule: LockoutRule = {
  attempts: 5,
  windowMs: 15 * MINUTE,
  lockMs: 10 * MINUTE,
  maxLockMs: 24 * HOUR,
  adminUnlockAfter: 100,
};
/** A lockout with failures the given number of milliseconds before NOW. */
const failedAgo = (...agoMs: number[]): Lockout => ({
  ...OPEN_LOCKOUT,
  failures: agoMs.map((ago) => iso(NOW - ago)),
  consecutiveFailures: agoMs.length,
});

describe('the per-account lockout', () => {
  it('the 5th failure inside the window locks for exactly the first lock time and forgets the failures', () => {
    const { lockout, outcome } = withFailure(failedAgo(14 * MINUTE, 3 * MINUTE, MINUTE, 1), rule, NOW, false);
    expect(outcome).toEqual({ kind: 'locked', lockMs: 10 * MINUTE, lock: 1 });
    expect(lockout.lockedUntil).toBe(iso(NOW + 10 * MINUTE));
    expect(lockout.failures).toEqual([]);
    expect(lockout.locks).toBe(1);
    expect(lockout.consecutiveFailures).toBe(5);
    expect(lockState(lockout, NOW)).toEqual({ kind: 'locked', remainingMs: 10 * MINUTE });
  });

  it('the 4th failure records itself after the earlier ones and does not lock', () => {
    const before = failedAgo(2 * MINUTE, MINUTE, 1);
    const { lockout, outcome } = withFailure(before, rule, NOW, false);
    expect(outcome).toEqual({ kind: 'counted' });
    expect(lockout.lockedUntil).toBeNull();
    expect(lockout.failures).toEqual([...before.failures, iso(NOW)]);
    expect(lockout.consecutiveFailures).toBe(4);
    expect(lockState(lockout, NOW)).toEqual({ kind: 'open' });
  });

  it('a reserved failure is already in the window and is not added twice', () => {
    const reserved = failedAgo(3 * MINUTE, 2 * MINUTE, MINUTE, 0);
    const { lockout, outcome } = withFailure(reserved, rule, NOW, true);
    expect(outcome).toEqual({ kind: 'counted' });
    expect(lockout.failures).toEqual(reserved.failures);
    const fifth = withFailure({ ...reserved, failures: [...reserved.failures, iso(NOW)] }, rule, NOW, true);
    expect(fifth.outcome.kind).toBe('locked');
  });

  it('a failure exactly one window old no longer counts, one a millisecond younger does', () => {
    const outside = withFailure(failedAgo(15 * MINUTE, 3 * MINUTE, 2 * MINUTE, MINUTE), rule, NOW, false);
    expect(outside.outcome.kind).toBe('counted');
    expect(outside.lockout.failures).toEqual([
      iso(NOW - 3 * MINUTE),
      iso(NOW - 2 * MINUTE),
      iso(NOW - MINUTE),
      iso(NOW),
    ]);
    const inside = withFailure(failedAgo(15 * MINUTE - 1, 3 * MINUTE, 2 * MINUTE, MINUTE), rule, NOW, false);
    expect(inside.outcome.kind).toBe('locked');
  });

  it('failures spread wider than the window never lock, however many there are', () => {
    let lockout = OPEN_LOCKOUT;
    let now = NOW;
    for (let i = 0; i < 12; i++) {
      const next = withFailure(lockout, rule, now, false);
      expect(next.outcome.kind).toBe('counted');
      lockout = next.lockout;
      now += 4 * MINUTE;
    }
    // Only the failures younger than 15 minutes are kept: the last one and those 4, 8 and 12 minutes before it.
    expect(lockout.failures).toHaveLength(4);
    expect(lockout.consecutiveFailures).toBe(12);
  });

  it('the lock ends at its exact millisecond', () => {
    const { lockout } = withFailure(failedAgo(4, 3, 2, 1), rule, NOW, false);
    const until = Date.parse(lockout.lockedUntil ?? '');
    expect(lockState(lockout, until - 1)).toEqual({ kind: 'locked', remainingMs: 1 });
    expect(lockState(lockout, until)).toEqual({ kind: 'open' });
    expect(lockState(lockout, until + MINUTE)).toEqual({ kind: 'open' });
    expect(lockState(OPEN_LOCKOUT, NOW)).toEqual({ kind: 'open' });
  });

  it('each lock without a success in between lasts twice the one before, up to the cap', () => {
    expect([1, 2, 3, 4].map((n) => lockLength(rule, n))).toEqual([10, 20, 40, 80].map((m) => m * MINUTE));
    expect(lockLength(rule, 8)).toBe(1280 * MINUTE);
    expect(lockLength(rule, 9)).toBe(24 * HOUR);
    expect(lockLength(rule, 1000)).toBe(24 * HOUR);
    const second = withFailure({ ...failedAgo(4, 3, 2, 1), locks: 1 }, rule, NOW, false);
    expect(second.outcome).toEqual({ kind: 'locked', lockMs: 20 * MINUTE, lock: 2 });
    expect(second.lockout.lockedUntil).toBe(iso(NOW + 20 * MINUTE));
  });

  it('the 100th consecutive failure needs an administrator, whatever the window holds; the 99th does not', () => {
    const ninetyNinth = withFailure({ ...OPEN_LOCKOUT, consecutiveFailures: 98 }, rule, NOW, false);
    expect(ninetyNinth.outcome.kind).toBe('counted');
    const hundredth = withFailure(ninetyNinth.lockout, rule, NOW, false);
    expect(hundredth.outcome).toEqual({ kind: 'admin', consecutiveFailures: 100 });
    expect(hundredth.lockout).toMatchObject({ needsAdminUnlock: true, lockedUntil: null, failures: [] });
    expect(lockState(hundredth.lockout, NOW + 365 * 24 * HOUR)).toEqual({ kind: 'admin' });
    const refusal = lockRefusal(lockState(hundredth.lockout, NOW), 0);
    expect([refusal.status, refusal.code, refusal.message]).toEqual([
      429,
      'account_locked',
      'Too many failed attempts: this account is locked until an administrator unlocks it.',
    ]);
  });

  it('a success starts everything over', () => {
    expect(withSuccess()).toEqual({
      failures: [],
      lockedUntil: null,
      locks: 0,
      consecutiveFailures: 0,
      needsAdminUnlock: false,
    });
  });
});

describe('the refusal of a step', () => {
  it('a timed lock says the time it has left; an open step whose window is full says when a slot frees', () => {
    expect(lockRefusal({ kind: 'locked', remainingMs: 90_000 }, 5_000).extras.retryAfter).toBe(90);
    expect(lockRefusal({ kind: 'open' }, 5_000).extras.retryAfter).toBe(5);
  });
});

describe('reserving an attempt before hashing', () => {
  it('adds the attempt to the window while fewer than the limit are there', () => {
    const { lockout, refusal } = withReservation(failedAgo(2 * MINUTE, MINUTE), rule, NOW);
    expect(refusal).toBeNull();
    expect(lockout.failures).toEqual([iso(NOW - 2 * MINUTE), iso(NOW - MINUTE), iso(NOW)]);
  });

  it('refuses a full window until its oldest attempt leaves it, without counting the refused one', () => {
    const full = failedAgo(10 * MINUTE, 4, 3, 2, 1);
    const { lockout, refusal } = withReservation(full, rule, NOW);
    expect(lockout).toBe(full);
    expect([refusal?.status, refusal?.code]).toEqual([429, 'too_many_attempts']);
    expect(refusal?.extras.retryAfter).toBe(5 * 60);
    // The oldest one, one window old, no longer counts.
    expect(withReservation(failedAgo(15 * MINUTE, 4, 3, 2, 1), rule, NOW).refusal).toBeNull();
  });

  it('refuses a locked step with the time left, and an admin-locked one for good', () => {
    const locked = { ...OPEN_LOCKOUT, lockedUntil: iso(NOW + 90_000) };
    const timed = withReservation(locked, rule, NOW);
    expect([timed.refusal?.code, timed.refusal?.extras.retryAfter]).toEqual(['too_many_attempts', 90]);
    expect(timed.lockout).toBe(locked);
    expect(withReservation(locked, rule, NOW + 90_000).refusal).toBeNull();
    const admin = withReservation({ ...OPEN_LOCKOUT, needsAdminUnlock: true }, rule, NOW);
    expect(admin.refusal?.code).toBe('account_locked');
  });
});

describe('the rules come from the configuration, each step its own', () => {
  it('password and MFA rules read their own settings', async () => {
    const t = await buildTestApp({
      passwordLockoutAttempts: 7,
      passwordLockoutWindowMs: 11,
      passwordLockoutMs: 13,
      mfaLockoutAttempts: 3,
      mfaLockoutWindowMs: 17,
      mfaLockoutMs: 19,
      lockoutMaxMs: 23,
      adminUnlockAfter: 29,
    });
    try {
      expect(passwordRule(t.deps.security)).toEqual({
        attempts: 7,
        windowMs: 11,
        lockMs: 13,
        maxLockMs: 23,
        adminUnlockAfter: 29,
      });
      expect(mfaRule(t.deps.security)).toEqual({
        attempts: 3,
        windowMs: 17,
        lockMs: 19,
        maxLockMs: 23,
        adminUnlockAfter: 29,
      });
    } finally {
      await t.close();
    }
  });
});

describe('the per-address throttle', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await buildTestApp({ ipFailureLimit: 3, ipFailureWindowMs: 15 * MINUTE });
  });
  afterEach(async () => {
    await t.close();
  });

  async function refusal(ip: string | null): Promise<ApiError | null> {
    try {
      await reserveAddressAttempt(t.deps, ip);
      return null;
    } catch (error) {
      return error as ApiError;
    }
  }

  it('refuses an address at its limit of kept attempts, with a retry time of the window, and no other address', async () => {
    for (let i = 0; i < 3; i++) expect(await refusal('203.0.113.9')).toBeNull();
    const refused = await refusal('203.0.113.9');
    expect(refused?.status).toBe(429);
    expect(refused?.code).toBe('too_many_attempts');
    expect(refused?.extras.retryAfter).toBe(15 * 60);
    expect(await refusal('198.51.100.7')).toBeNull();
  });

  it('an attempt given back frees its slot', async () => {
    for (let i = 0; i < 2; i++) await reserveAddressAttempt(t.deps, '203.0.113.9');
    const third = await reserveAddressAttempt(t.deps, '203.0.113.9');
    expect(third).toEqual({ ip: '203.0.113.9', at: iso(t.clock.now()) });
    await releaseAddressAttempt(t.deps, third);
    expect(await refusal('203.0.113.9')).toBeNull();
    expect((await refusal('203.0.113.9'))?.status).toBe(429);
  });

  it('counts an attempt exactly one window old, and lets the address in a millisecond later', async () => {
    for (let i = 0; i < 3; i++) {
      await reserveAddressAttempt(t.deps, '203.0.113.9');
      t.clock.advance(MINUTE);
    }
    // The attempts were at 0, 1 and 2 minutes; now it is 3 minutes.
    t.clock.advance(12 * MINUTE);
    expect((await refusal('203.0.113.9'))?.status).toBe(429);
    t.clock.advance(1);
    expect(await refusal('203.0.113.9')).toBeNull();
  });

  it('counts an IPv6 client by its /64: another address in it is the same client, the next /64 is not', async () => {
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff:ffff:ffff:ffff']) {
      expect(await refusal(ip)).toBeNull();
    }
    expect((await refusal('2001:db8:1:2:abcd::9'))?.status).toBe(429);
    expect(await refusal('2001:db8:1:3::1')).toBeNull();
    expect(await refusal('2001:db8:1:1:ffff:ffff:ffff:ffff')).toBeNull();
    // An attempt given back frees the /64's slot, whichever of its addresses it came from.
    const attempt = await reserveAddressAttempt(t.deps, '2001:db8:1:3::2');
    expect(attempt?.ip).toBe('2001:db8:1:3::/64');
    await releaseAddressAttempt(t.deps, attempt);
    for (let i = 0; i < 2; i++) expect(await refusal(`2001:db8:1:3::${i + 10}`)).toBeNull();
    expect((await refusal('2001:db8:1:3::99'))?.status).toBe(429);
  });

  it('a request without a known address is neither counted nor refused', async () => {
    for (let i = 0; i < 5; i++) expect(await reserveAddressAttempt(t.deps, null)).toBeNull();
    await releaseAddressAttempt(t.deps, null);
    expect(await t.deps.store.countIpFailures('', iso(0))).toBe(0);
  });
});

describe('addressGroup: the client an address stands for', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8::/64'],
    ['2001:db8:0:0:1::', '2001:db8::/64'],
    ['1:2:3:4::', '1:2:3:4::/64'],
    ['1::2:3:4:5:6', '1:0:0:2::/64'],
    ['fe80::1:2:3:4', 'fe80::/64'],
    ['::1', '::/64'],
    ['::1.2.3.4', '::/64'],
    ['1::2:3:4:5:1.2.3.4', '1:0:2:3::/64'],
  ])('%s is %s', (address, group) => {
    expect(addressGroup(address)).toBe(group);
  });
});
