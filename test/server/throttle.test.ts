/**
 * The brakes on guessing, through the real app on a fake clock: the per-address throttle and the
 * per-account lockouts reserve each attempt under a lock before any hashing, lock for longer each
 * time, and hand the account to an administrator after 100 consecutive failures.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SecurityConfig } from '../../server/config';
import { currentTotp, newTotpSecret } from '../../server/crypto/totp';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

let t: TestApp;
const MINUTE = 60_000;
const FROM = { 'x-forwarded-for': '203.0.113.9' };
const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => t.app.fetch(req), method, path, options);

async function start(security: Partial<SecurityConfig> = {}) {
  // Behind a trusted proxy the client address comes from X-Forwarded-For (app.fetch has no socket).
  t = await buildTestApp({ trustProxy: true, ...security });
  await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
}

const login = (password: string, headers: Record<string, string> = FROM) =>
  api('POST', '/api/auth/login', { headers, body: { username: 'bob', password } });

afterEach(async () => {
  await t.close();
});

describe('per-address throttle', () => {
  it('200 concurrent wrong logins from one address: at most 100 hashes, the rest 429', async () => {
    await start({ ipFailureLimit: 100 });
    const hashesBefore = t.calls.verifyPassword;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        api('POST', '/api/auth/login', {
          headers: FROM,
          body: { username: `nobody${i}`, password: 'wrong-password' },
        }),
      ),
    );
    expect(t.calls.verifyPassword - hashesBefore).toBeLessThanOrEqual(100);
    expect(results.filter((r) => r.status === 401)).toHaveLength(100);
    expect(results.filter((r) => r.status === 429)).toHaveLength(100);
    for (const r of results.filter((x) => x.status === 429))
      expect(r.headers.get('retry-after')).toBeTruthy();
  });

  it('a success gives its slot back: successes never fill the window', async () => {
    await start({ ipFailureLimit: 3 });
    for (let i = 0; i < 10; i++) expect((await login('bob-password')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login('wrong-password')).status).toBe(401);
    expect((await login('bob-password')).status).toBe(429);
    t.clock.advance(15 * MINUTE + 1000);
    expect((await login('bob-password')).status).toBe(200);
  });
});

describe('per-account password lockout', () => {
  it('30 concurrent wrong passwords from many addresses: at most 10 hashes, then the account locks', async () => {
    await start();
    const hashesBefore = t.calls.verifyPassword;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        login('wrong-password', { 'x-forwarded-for': `198.51.100.${i + 1}` }),
      ),
    );
    expect(t.calls.verifyPassword - hashesBefore).toBeLessThanOrEqual(10);
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(20);
    // Locked now, even for the right password, from any address; audited.
    const right = await login('bob-password', { 'x-forwarded-for': '192.0.2.1' });
    expect(right.status).toBe(429);
    expect(right.body.error.code).toBe('too_many_attempts');
    const [event] = await t.deps.store.listAudit({ limit: 1, type: 'password_locked' });
    expect(event?.details).toMatchObject({ minutes: 15, lock: 1 });
    t.clock.advance(15 * MINUTE);
    expect((await login('bob-password')).status).toBe(200);
  });

  it('a success resets the count: failures spread around successes never lock', async () => {
    await start();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 9; i++) expect((await login('wrong-password')).status).toBe(401);
      expect((await login('bob-password')).status).toBe(200);
    }
  });
});

describe('escalation and the administrator unlock (MFA step)', () => {
  async function setUp() {
    await start();
    await t.deps.store.createUser(await newUserRecord(t.deps, 'admin', 'admin-password', 'admin'));
    const admin = await adminToken();
    const secret = newTotpSecret();
    const bob = await t.deps.store.findUserByUsername('bob');
    if (!bob) throw new Error('no bob');
    await t.deps.store.updateUser(bob.id, (user) => ({
      user: { ...user, mfa: { type: 'totp', secret, enrolled: true, configureLater: false, lastStep: null } },
      result: null,
    }));
    return { admin, secret, bobId: bob.id };
  }

  async function adminToken() {
    const res = await api('POST', '/api/auth/login', {
      body: { username: 'admin', password: 'admin-password' },
    });
    return res.body.token as string;
  }

  /** One wrong TOTP code on a fresh challenge; resolves the answer. */
  async function wrongCode() {
    const challenge = await login('bob-password');
    if (challenge.status !== 200) return challenge;
    return api('POST', '/api/auth/mfa', {
      headers: FROM,
      body: { mfaToken: challenge.body.mfaToken, method: 'totp', code: '000000' },
    });
  }

  /** Five wrong codes: the fifth locks. Resolves the lock's length in seconds (Retry-After). */
  async function lockOnce(): Promise<number> {
    for (let i = 0; i < 4; i++) expect((await wrongCode()).status).toBe(401);
    const locking = await wrongCode();
    expect(locking.status).toBe(429);
    return Number(locking.headers.get('retry-after'));
  }

  it('each lock lasts twice the one before, up to 24 hours', async () => {
    await setUp();
    const minutes: number[] = [];
    for (let lock = 0; lock < 9; lock++) {
      const seconds = await lockOnce();
      minutes.push(seconds / 60);
      // Still locked a second before the end, open after it.
      t.clock.advance(seconds * 1000 - 1000);
      expect((await wrongCode()).status).toBe(429);
      t.clock.advance(1000);
    }
    expect(minutes).toEqual([15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
    const [event] = await t.deps.store.listAudit({ limit: 1, type: 'mfa_locked' });
    expect(event?.details).toMatchObject({ minutes: 1440, lock: 9 });
  });

  it('a failure just outside the window does not count', async () => {
    await setUp();
    expect((await wrongCode()).status).toBe(401);
    t.clock.advance(15 * MINUTE);
    for (let i = 0; i < 4; i++) expect((await wrongCode()).status).toBe(401);
    expect((await wrongCode()).status).toBe(429);
  });

  it('the 100th consecutive failure waits for an administrator, who sees it and unlocks', async () => {
    const { secret, bobId } = await setUp();
    for (let lock = 0; lock < 19; lock++) t.clock.advance((await lockOnce()) * 1000);
    // 95 failures so far: four more are plain failures, the 100th hands the account to an admin.
    for (let i = 0; i < 4; i++) expect((await wrongCode()).status).toBe(401);
    const hundredth = await wrongCode();
    expect(hundredth.status).toBe(429);
    expect(hundredth.body.error.code).toBe('account_locked');

    // No amount of waiting opens it, not even for the right code.
    t.clock.advance(30 * 24 * 60 * MINUTE);
    const challenge = await login('bob-password');
    const right = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: challenge.body.mfaToken, method: 'totp', code: currentTotp(secret, t.clock.now()) },
    });
    expect(right.body.error.code).toBe('account_locked');

    const token = await adminToken();
    const listed = await api('GET', '/api/admin/users', { token });
    const row = listed.body.users.find((u: { id: string }) => u.id === bobId);
    expect(row.lockout).toEqual({ lockedUntil: null, needsAdminUnlock: true, consecutiveFailures: 100 });
    const [locked] = await t.deps.store.listAudit({ limit: 1, type: 'mfa_locked' });
    expect(locked?.details).toMatchObject({ needsAdminUnlock: true, consecutiveFailures: 100 });

    const unlocked = await api('POST', `/api/admin/users/${bobId}/unlock`, { token });
    expect(unlocked.status).toBe(200);
    expect(unlocked.body.user.lockout).toEqual({
      lockedUntil: null,
      needsAdminUnlock: false,
      consecutiveFailures: 0,
    });
    const [event] = await t.deps.store.listAudit({ limit: 1, type: 'user_unlocked' });
    expect(event?.details).toMatchObject({ needsAdminUnlock: true, consecutiveFailures: 100 });
    expect(event?.subject?.id).toBe(bobId);

    t.clock.advance(30_000);
    const again = await login('bob-password');
    const ok = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: again.body.mfaToken, method: 'totp', code: currentTotp(secret, t.clock.now()) },
    });
    expect(ok.status).toBe(200);
    // After the unlock the escalation starts over: the next lock is 15 minutes again.
    expect(await lockOnce()).toBe(15 * 60);
  });

  it('unlock: an unknown id is 404, and a timed lock ends at once', async () => {
    const { bobId } = await setUp();
    const token = await adminToken();
    await lockOnce();
    const listed = await api('GET', '/api/admin/users', { token });
    expect(listed.body.users.find((u: { id: string }) => u.id === bobId).lockout.lockedUntil).toBe(
      new Date(t.clock.now() + 15 * MINUTE).toISOString(),
    );
    expect(
      (await api('POST', '/api/admin/users/00000000-0000-4000-8000-000000000000/unlock', { token })).status,
    ).toBe(404);
    expect((await api('POST', `/api/admin/users/${bobId}/unlock`, { token })).status).toBe(200);
    expect((await wrongCode()).status).toBe(401);
  });
});
