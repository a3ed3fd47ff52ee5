/**
 * The brakes on guessing, through the real app on a fake clock: the per-address throttle and the
 * per-account lockouts reserve each attempt under a lock before any hashing, lock for longer each
 * time, and hand the account to an administrator after 100 consecutive failures.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SecurityConfig } from '../../server/config';
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
