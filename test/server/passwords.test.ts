/**
 * Changing and resetting passwords, and the restricted session of a user who must change theirs,
 * through the real app on a real lowdb store (fast hasher). The first admin's generated password is
 * followed over real HTTP in http.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { passwordProblem } from '../../server/services/password-rules';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

let t: TestApp;
const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => t.app.fetch(req), method, path, options);

async function signIn(username: string, password: string) {
  const res = await api('POST', '/api/auth/login', { body: { username, password } });
  expect(res.body.status, JSON.stringify(res.body)).toBe('ok');
  return res.body.token as string;
}

let admin: string;
let alice: { id: string; token: string };

beforeEach(async () => {
  t = await buildTestApp();
  await t.deps.store.createUser(await newUserRecord(t.deps, 'admin', 'admin-password', 'admin'));
  admin = await signIn('admin', 'admin-password');
  const created = await api('POST', '/api/admin/users', {
    token: admin,
    body: { username: 'alice', password: 'alice-password' },
  });
  expect(created.status).toBe(201);
  alice = { id: created.body.user.id, token: await signIn('alice', 'alice-password') };
});
afterEach(async () => {
  await t.close();
});

const change = (token: string, currentPassword: string, newPassword: string) =>
  api('POST', '/api/me/password', { token, body: { currentPassword, newPassword } });

describe('the password rule', () => {
  it('wants 8 characters or more (as people count them), at most 256, and nothing common', () => {
    expect(passwordProblem('seven77')).toMatch(/at least 8/);
    expect(passwordProblem('🔑🔑🔑🔑🔑🔑🔑')).toMatch(/at least 8/); // 7 characters, 14 UTF-16 units
    expect(passwordProblem('🔑🔑🔑🔑🔑🔑🔑🔑')).toBeNull();
    expect(passwordProblem('x'.repeat(257))).toMatch(/at most 256/);
    expect(passwordProblem('y'.repeat(256))).toBeNull();
    // No composition rule: lower-case words are fine when they are not common.
    expect(passwordProblem('velvet lantern harbour')).toBeNull();
    for (const common of ['password', 'Password1', 'QWERTYUIOP', 'iloveyou', 'Sunshine']) {
      expect(passwordProblem(common), common).toMatch(/commonly used/);
    }
    expect(passwordProblem('Alice.Liddell', { username: 'alice.liddell' })).toMatch(/username/);
  });

  it('is applied when an admin creates a user, with the message at the field', async () => {
    for (const password of ['short', 'password123', 'Football1']) {
      const res = await api('POST', '/api/admin/users', {
        token: admin,
        body: { username: 'bob', password },
      });
      expect(res.status, password).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'weak_password', field: 'password' });
    }
    expect((await api('GET', '/api/admin/users', { token: admin })).body.users).toHaveLength(2);
  });
});

describe('POST /api/me/password', () => {
  it('changes the password: every other session ends, the caller gets a new token, audited', async () => {
    const otherDevice = await signIn('alice', 'alice-password');
    const res = await change(alice.token, 'alice-password', 'a-brand-new-passphrase');
    expect(res.status).toBe(200);
    const renewed = res.body.token as string;
    expect(renewed).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect((await api('GET', '/api/me', { token: otherDevice })).status).toBe(401);
    expect((await api('GET', '/api/me', { token: alice.token })).status).toBe(401);
    expect((await api('GET', '/api/me', { token: renewed })).status).toBe(200);

    const old = await api('POST', '/api/auth/login', {
      body: { username: 'alice', password: 'alice-password' },
    });
    expect(old.status).toBe(401);
    await signIn('alice', 'a-brand-new-passphrase');

    const audit = await api('GET', '/api/admin/audit?type=password_changed', { token: admin });
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0]).toMatchObject({
      actor: { username: 'alice' },
      subject: { username: 'alice' },
      details: { forced: false },
    });
    expect(JSON.stringify(audit.body)).not.toContain('a-brand-new-passphrase');
  });

  it('refuses a wrong current password at that field, and a weak or unchanged new one at its field', async () => {
    const wrong = await change(alice.token, 'not-my-password', 'a-brand-new-passphrase');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'invalid_credentials', field: 'currentPassword' });

    const weak = await change(alice.token, 'alice-password', 'Letmein1');
    expect(weak.status).toBe(400);
    expect(weak.body.error).toMatchObject({ code: 'weak_password', field: 'newPassword' });
    expect(weak.body.error.message).toMatch(/commonly used/);

    const same = await change(alice.token, 'alice-password', 'alice-password');
    expect(same.status).toBe(400);
    expect(same.body.error).toMatchObject({ code: 'weak_password', field: 'newPassword' });

    const missing = await api('POST', '/api/me/password', {
      token: alice.token,
      body: { newPassword: 'a-brand-new-passphrase' },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.field).toBe('currentPassword');

    // Nothing changed: the session still works, the old password still signs in.
    expect((await api('GET', '/api/me', { token: alice.token })).status).toBe(200);
    await signIn('alice', 'alice-password');
  });

  it('two changes racing with the same current password: exactly one wins', async () => {
    const results = await Promise.all(
      ['first-new-passphrase', 'second-new-passphrase', 'third-new-passphrase'].map((p) =>
        change(alice.token, 'alice-password', p),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
  });

  it('needs a session', async () => {
    const res = await api('POST', '/api/me/password', {
      body: { currentPassword: 'alice-password', newPassword: 'a-brand-new-passphrase' },
    });
    expect(res.status).toBe(401);
  });
});

describe('POST /api/admin/users/{id}/password and the forced change', () => {
  it('generates a temporary password shown once, ends the sessions, and forces a change', async () => {
    const reset = await api('POST', `/api/admin/users/${alice.id}/password`, { token: admin, body: {} });
    expect(reset.status).toBe(200);
    const temporary = reset.body.password as string;
    expect(temporary.length).toBeGreaterThanOrEqual(20);
    expect(reset.body.user).toMatchObject({ username: 'alice', mustChangePassword: true });
    expect((await api('GET', '/api/me', { token: alice.token })).status).toBe(401);

    const restricted = await signIn('alice', temporary);
    const me = await api('GET', '/api/me', { token: restricted });
    expect(me.status).toBe(200);
    expect(me.body.mustChangePassword).toBe(true);
    for (const [method, path, body] of [
      ['GET', '/api/me/events'],
      ['POST', '/api/me/backup-codes', { password: temporary }],
    ] as const) {
      const refused = await api(method, path, { token: restricted, body });
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.code).toBe('password_change_required');
    }

    // The temporary password cannot simply be kept.
    expect((await change(restricted, temporary, temporary)).status).toBe(400);
    const changed = await change(restricted, temporary, 'alice-chose-this-one');
    expect(changed.status).toBe(200);
    const free = changed.body.token as string;
    expect((await api('GET', '/api/me', { token: free })).body.mustChangePassword).toBe(false);
    expect((await api('GET', '/api/me/events', { token: free })).status).toBe(200);
    const audit = await api('GET', `/api/admin/audit?userId=${alice.id}`, { token: admin });
    const types = audit.body.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['password_reset', 'password_changed']));
    expect(JSON.stringify(audit.body)).not.toContain(temporary);
  });

  it('an admin who must change their password can do no admin work, only sign out', async () => {
    const reset = await api('POST', `/api/admin/users/${alice.id}/password`, {
      token: admin,
      body: { password: 'temporary-for-alice' },
    });
    expect(reset.body.password).toBeUndefined();
    await api('PATCH', `/api/admin/users/${alice.id}`, { token: admin, body: { role: 'admin' } });
    const restricted = await signIn('alice', 'temporary-for-alice');
    for (const path of ['/api/admin/users', '/api/admin/policy', '/api/admin/audit']) {
      const refused = await api('GET', path, { token: restricted });
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.code).toBe('password_change_required');
    }
    expect((await api('POST', '/api/auth/logout', { token: restricted })).status).toBe(204);
    expect((await api('GET', '/api/me', { token: restricted })).status).toBe(401);
  });

  it('refuses a weak temporary password at its field, an unknown user, and non-admins', async () => {
    const weak = await api('POST', `/api/admin/users/${alice.id}/password`, {
      token: admin,
      body: { password: 'abc' },
    });
    expect(weak.status).toBe(400);
    expect(weak.body.error).toMatchObject({ code: 'weak_password', field: 'password' });
    const unknown = await api('POST', '/api/admin/users/6f1c2a9e-8a4b-4c1d-9e2f-0a1b2c3d4e5f/password', {
      token: admin,
      body: {},
    });
    expect(unknown.status).toBe(404);
    const notAdmin = await api('POST', `/api/admin/users/${alice.id}/password`, {
      token: alice.token,
      body: {},
    });
    expect(notAdmin.status).toBe(403);
    // Nothing changed for alice.
    expect((await api('GET', '/api/me', { token: alice.token })).body.mustChangePassword).toBe(false);
  });
});
