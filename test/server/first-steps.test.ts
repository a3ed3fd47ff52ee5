/**
 * The first steps a newcomer takes, against the real server over HTTP: a password the admin chose is
 * temporary, and "Administrators must use MFA" sends an admin without MFA through enrolment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type RunningServer, startServer } from '../support/server';

let server: RunningServer;
let admin: string;

const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call(server.url, method, path, options);
const signIn = (username: string, password: string) =>
  api('POST', '/api/auth/login', { body: { username, password } });
const POLICY = {
  mfaUsage: 'optional_per_user',
  backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 },
};

beforeAll(async () => {
  server = await startServer();
  const res = await signIn('admin', server.adminPassword);
  expect(res.body.status).toBe('ok');
  admin = res.body.token;
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describe('a user created with a password the admin chose', () => {
  it('must change it at first sign-in when the admin marks it temporary; the API default keeps it', async () => {
    const created = await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'carol', password: 'carol-first-password', temporary: true },
    });
    expect(created.status).toBe(201);
    const carol = (await signIn('carol', 'carol-first-password')).body.token;
    const me = await api('GET', '/api/me', { token: carol });
    expect(me.body.mustChangePassword).toBe(true);
    expect((await api('GET', '/api/me/events', { token: carol })).body.error.code).toBe(
      'password_change_required',
    );
    const listed = await api('GET', '/api/admin/users', { token: admin });
    const row = listed.body.users.find((user: { username: string }) => user.username === 'carol');
    expect(row.mustChangePassword).toBe(true);

    await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'dave', password: 'dave-own-password' },
    });
    const dave = (await signIn('dave', 'dave-own-password')).body.token;
    expect((await api('GET', '/api/me', { token: dave })).body.mustChangePassword).toBe(false);
  });

  it('refuses a temporary flag that is not true or false, and creates nobody', async () => {
    const res = await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'erin', password: 'erin-first-password', temporary: 'yes' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('temporary');
    expect((await signIn('erin', 'erin-first-password')).status).toBe(401);
  });
});

describe('"Administrators must use MFA"', () => {
  it('is off by default and refuses a value that is not true or false', async () => {
    const policy = await api('GET', '/api/admin/policy', { token: admin });
    expect(policy.body.adminsMustUseMfa).toBe(false);
    const wrong = await api('PUT', '/api/admin/policy', {
      token: admin,
      body: { ...POLICY, adminsMustUseMfa: 'on' },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.field).toBe('adminsMustUseMfa');
    expect((await api('GET', '/api/admin/policy', { token: admin })).body).toEqual(policy.body);
  });

  it('when on, an admin without MFA enrols at the next sign-in; a plain user without MFA does not', async () => {
    await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'frank', password: 'frank-own-password', role: 'admin' },
    });
    await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'grace', password: 'grace-own-password' },
    });
    expect((await signIn('frank', 'frank-own-password')).body.status).toBe('ok');

    const saved = await api('PUT', '/api/admin/policy', {
      token: admin,
      body: { ...POLICY, adminsMustUseMfa: true },
    });
    expect(saved.status).toBe(200);
    expect(saved.body.adminsMustUseMfa).toBe(true);
    // The admin's own password-only session no longer meets the policy, as under "required".
    expect((await api('GET', '/api/admin/policy', { token: admin })).body.error.code).toBe(
      'mfa_step_required',
    );

    const frank = await signIn('frank', 'frank-own-password');
    expect(frank.body.status).toBe('mfa_enroll');
    expect(frank.body.token).toBeUndefined();
    const grace = await signIn('grace', 'grace-own-password');
    expect(grace.body.status).toBe('ok');
  });
});
