/** Session lifetime and what a session must have passed, through the real app on a fake clock. */
import { afterEach, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

let t: TestApp;
const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => t.app.fetch(req), method, path, options);

afterEach(async () => {
  await t.close();
});

async function signIn(username: string, password: string) {
  const res = await api('POST', '/api/auth/login', { body: { username, password } });
  expect(res.body.status).toBe('ok');
  return res.body.token as string;
}

describe('idle timeout', () => {
  it('activity every 15 s keeps a session with a 1-minute idle time alive', async () => {
    t = await buildTestApp({ sessionIdleMs: 60_000 });
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const token = await signIn('bob', 'bob-password');
    for (let elapsed = 15_000; elapsed <= 5 * 60_000; elapsed += 15_000) {
      t.clock.advance(15_000);
      const res = await api('GET', '/api/me', { token });
      expect(res.status, `after ${elapsed / 1000} s of activity every 15 s`).toBe(200);
    }
    // Then a full idle minute ends it.
    t.clock.advance(60_000);
    expect((await api('GET', '/api/me', { token })).status).toBe(401);
  });

  it('still ends the session once the idle time passes without activity', async () => {
    t = await buildTestApp({ sessionIdleMs: 60_000 });
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const token = await signIn('bob', 'bob-password');
    t.clock.advance(59_000);
    expect((await api('GET', '/api/me', { token })).status).toBe(200);
    t.clock.advance(59_999);
    expect((await api('GET', '/api/me', { token })).status).toBe(200);
    t.clock.advance(60_000);
    expect((await api('GET', '/api/me', { token })).status).toBe(401);
  });
});

describe('a switch to "MFA required"', () => {
  it('refuses sessions that passed only a password, the admin’s included; sign-in then enrols', async () => {
    t = await buildTestApp();
    await t.deps.store.createUser(await newUserRecord(t.deps, 'admin', 'admin-password', 'admin'));
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const admin = await signIn('admin', 'admin-password');
    const bob = await signIn('bob', 'bob-password');
    expect((await api('GET', '/api/me', { token: bob })).status).toBe(200);

    const policy = { mfaUsage: 'required', backupCodes: { enabled: false, count: 10, warnWhenRemaining: 3 } };
    expect((await api('PUT', '/api/admin/policy', { token: admin, body: policy })).status).toBe(200);

    for (const token of [bob, admin]) {
      const refused = await api('GET', '/api/me', { token });
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('mfa_step_required');
      expect(refused.body.error.message).toMatch(/Multifactor authentication is now required/);
      // A background poll is refused the same way, and the session is gone for good.
      const poll = await api('GET', '/api/me/events', { token, headers: { 'x-sparekey-background': '1' } });
      expect(poll.status).toBe(401);
    }
    expect((await api('GET', '/api/admin/users', { token: admin })).status).toBe(401);

    const again = await api('POST', '/api/auth/login', {
      body: { username: 'bob', password: 'bob-password' },
    });
    expect(again.body.status).toBe('mfa_enroll');
    const enrolled = await api('POST', '/api/auth/enroll', {
      body: { mfaToken: again.body.mfaToken, code: currentTotp(again.body.secret, t.clock.now()) },
    });
    expect(enrolled.status).toBe(200);
    expect((await api('GET', '/api/me', { token: enrolled.body.token })).status).toBe(200);
  });

  it('keeps sessions that passed an MFA step', async () => {
    t = await buildTestApp();
    await t.deps.store.createUser(await newUserRecord(t.deps, 'admin', 'admin-password', 'admin'));
    const admin = await signIn('admin', 'admin-password');
    await t.deps.store.setPolicy({ ...(await t.deps.store.getPolicy()), mfaUsage: 'required' });
    const login = await api('POST', '/api/auth/login', {
      body: { username: 'admin', password: 'admin-password' },
    });
    const enrolled = await api('POST', '/api/auth/enroll', {
      body: { mfaToken: login.body.mfaToken, code: currentTotp(login.body.secret, t.clock.now()) },
    });
    expect(enrolled.status).toBe(200);
    expect((await api('GET', '/api/me', { token: admin })).body.error.code).toBe('mfa_step_required');
    expect((await api('GET', '/api/admin/users', { token: enrolled.body.token })).status).toBe(200);
  });
});
