/** Every endpoint and error path of the JSON API, through the real app on a real lowdb store. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { newUserRecord } from '../../server/services/users';
import type { Policy } from '../../shared/api';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

let t: TestApp;
const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => t.app.fetch(req), method, path, options);

const ENABLED: Policy = {
  mfaUsage: 'optional_per_user',
  backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 },
};

async function addAdmin() {
  await t.deps.store.createUser(await newUserRecord(t.deps, 'admin', 'admin-password', 'admin'));
  const res = await api('POST', '/api/auth/login', {
    body: { username: 'admin', password: 'admin-password' },
  });
  expect(res.body.status).toBe('ok');
  return res.body.token as string;
}

async function setPolicy(admin: string, policy: Policy) {
  const res = await api('PUT', '/api/admin/policy', { token: admin, body: policy });
  expect(res.status).toBe(200);
}

/** Creates a user whose authenticator the admin configured now; returns the TOTP secret. */
async function addUserWithTotp(admin: string, username = 'alice', password = 'alice-password') {
  const created = await api('POST', '/api/admin/users', { token: admin, body: { username, password } });
  expect(created.status).toBe(201);
  const id = created.body.user.id as string;
  const patched = await api('PATCH', `/api/admin/users/${id}`, {
    token: admin,
    body: { mfa: { type: 'totp' } },
  });
  expect(patched.status).toBe(200);
  return { id, secret: patched.body.totp.secret as string, password, username };
}

/** Signs in with password + TOTP; steps the clock 30 s first so a fresh TOTP step is always available. */
async function signInWithTotp(user: { username: string; password: string; secret: string }) {
  t.clock.advance(30_000);
  const login = await api('POST', '/api/auth/login', {
    body: { username: user.username, password: user.password },
  });
  expect(login.body.status).toBe('mfa_required');
  const mfa = await api('POST', '/api/auth/mfa', {
    body: { mfaToken: login.body.mfaToken, method: 'totp', code: currentTotp(user.secret, t.clock.now()) },
  });
  expect(mfa.status).toBe(200);
  return mfa.body.token as string;
}

async function startBackupLogin(user: { username: string; password: string }) {
  const login = await api('POST', '/api/auth/login', {
    body: { username: user.username, password: user.password },
  });
  expect(login.body.status).toBe('mfa_required');
  return login.body as { mfaToken: string; methods: string[] };
}

beforeEach(async () => {
  t = await buildTestApp();
});
afterEach(async () => {
  await t.close();
});

describe('health and documentation', () => {
  it('answers /healthz and serves the OpenAPI document of every endpoint', async () => {
    expect((await api('GET', '/healthz')).status).toBe(200);
    const doc = await api('GET', '/api/openapi.json');
    expect(doc.status).toBe(200);
    for (const path of [
      '/api/auth/login',
      '/api/auth/mfa',
      '/api/auth/enroll',
      '/api/auth/logout',
      '/api/me',
      '/api/me/backup-codes',
      '/api/me/events',
      '/api/me/password',
      '/api/admin/policy',
      '/api/admin/users',
      '/api/admin/users/{id}',
      '/api/admin/users/{id}/backup-codes',
      '/api/admin/users/{id}/password',
      '/api/admin/audit',
    ]) {
      expect(doc.body.paths, path).toHaveProperty([path]);
    }
  });

  it('unknown paths get the error shape', async () => {
    const res = await api('GET', '/api/nope');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('sign-in without MFA, sessions and logout', () => {
  it('signs in, reads /api/me, and logout kills the token', async () => {
    const admin = await addAdmin();
    const me = await api('GET', '/api/me', { token: admin });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ username: 'admin', role: 'admin' });
    expect(me.body.backupCodes).toMatchObject({ allowed: false, total: 0 });
    expect(me.headers.get('cache-control')).toBe('no-store');

    expect((await api('POST', '/api/auth/logout', { token: admin })).status).toBe(204);
    const after = await api('GET', '/api/me', { token: admin });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('unauthorized');

    const again = await api('POST', '/api/auth/login', {
      body: { username: 'admin', password: 'admin-password' },
    });
    const audit = await api('GET', '/api/admin/audit?type=logout', { token: again.body.token });
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0].actor.username).toBe('admin');
  });

  it('an unknown user and a wrong password get the same 401', async () => {
    await addAdmin();
    const unknown = await api('POST', '/api/auth/login', {
      body: { username: 'nobody', password: 'whatever1' },
    });
    const wrong = await api('POST', '/api/auth/login', {
      body: { username: 'admin', password: 'whatever1' },
    });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
  });

  it('usernames are case-insensitive at sign-in', async () => {
    await addAdmin();
    const res = await api('POST', '/api/auth/login', {
      body: { username: 'ADMIN', password: 'admin-password' },
    });
    expect(res.body.status).toBe('ok');
  });

  it('sessions expire after the idle time and the absolute lifetime', async () => {
    const admin = await addAdmin();
    t.clock.advance(29 * 60_000);
    expect((await api('GET', '/api/me', { token: admin })).status).toBe(200);
    t.clock.advance(31 * 60_000);
    expect((await api('GET', '/api/me', { token: admin })).status).toBe(401);

    const other = (
      await api('POST', '/api/auth/login', { body: { username: 'admin', password: 'admin-password' } })
    ).body.token;
    for (let i = 0; i < 25; i++) {
      t.clock.advance(29 * 60_000);
      const res = await api('GET', '/api/me', { token: other });
      if (i < 24) expect(res.status).toBe(200);
      else expect(res.status).toBe(401); // past 12 h even though never idle
    }
  });

  it('background polls do not keep an idle session alive', async () => {
    const admin = await addAdmin();
    const poll = { token: admin, headers: { 'x-sparekey-background': '1' } };
    for (let i = 0; i < 5; i++) {
      t.clock.advance(5 * 60_000);
      expect((await api('GET', '/api/me/events', poll)).status).toBe(200);
    }
    t.clock.advance(6 * 60_000); // 31 minutes without the person using it
    expect((await api('GET', '/api/me', poll)).status).toBe(401);
  });

  it('refuses missing, malformed and forged tokens', async () => {
    await addAdmin();
    expect((await api('GET', '/api/me')).status).toBe(401);
    expect((await api('GET', '/api/me', { headers: { authorization: 'Bearer' } })).status).toBe(401);
    expect((await api('GET', '/api/me', { headers: { authorization: 'Basic YWRtaW4=' } })).status).toBe(401);
    expect((await api('GET', '/api/me', { token: 'A'.repeat(43) })).status).toBe(401);
  });
});

describe('bad input changes nothing', () => {
  it('malformed JSON, wrong types, unknown fields, missing content type and oversized bodies', async () => {
    const admin = await addAdmin();
    const before = (await api('GET', '/api/admin/policy', { token: admin })).body;

    const raw = await t.app.fetch(
      new Request('http://127.0.0.1/api/admin/policy', {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: '{"mfaUsage":',
      }),
    );
    expect(raw.status).toBe(400);
    expect((await raw.json()).error.code).toBe('invalid_request');

    const wrongType = await api('PUT', '/api/admin/policy', {
      token: admin,
      body: { ...ENABLED, backupCodes: { ...ENABLED.backupCodes, count: '10' } },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.field).toBe('backupCodes.count');

    const unknown = await api('POST', '/api/auth/login', {
      body: { username: 'a', password: 'b', extra: 1 },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('extra');

    const noType = await t.app.fetch(
      new Request('http://127.0.0.1/api/auth/login', {
        method: 'POST',
        body: '{"username":"a","password":"b"}',
      }),
    );
    expect(noType.status).toBeGreaterThanOrEqual(400);
    expect(noType.status).toBeLessThan(500);
    expect((await noType.json()).error.code).toBeTypeOf('string');

    const huge = await api('PUT', '/api/admin/policy', {
      token: admin,
      body: { ...ENABLED, padding: 'x'.repeat(20_000) },
    });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');

    expect((await api('GET', '/api/admin/policy', { token: admin })).body).toEqual(before);
  });
});

describe('the admin policy', () => {
  it('has the documented defaults', async () => {
    const admin = await addAdmin();
    const res = await api('GET', '/api/admin/policy', { token: admin });
    expect(res.body).toEqual({
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: false, count: 10, warnWhenRemaining: 3 },
      adminsMustUseMfa: false,
    });
  });

  it('saves a whole valid policy and audits the change', async () => {
    const admin = await addAdmin();
    const policy: Policy = {
      mfaUsage: 'required',
      backupCodes: { enabled: true, count: 6, warnWhenRemaining: 2 },
      adminsMustUseMfa: false,
    };
    await setPolicy(admin, policy);
    expect(await t.deps.store.getPolicy()).toEqual(policy);
    const [event] = await t.deps.store.listAudit({ limit: 1, type: 'policy_changed' });
    expect(event?.details).toMatchObject({ mfaUsage: 'required', count: 6 });
    // The admin's own session passed no MFA step: "required" now applies to it too.
    expect((await api('GET', '/api/admin/policy', { token: admin })).body.error.code).toBe(
      'mfa_step_required',
    );
  });

  it.each([
    [{ backupCodes: { enabled: true, count: 21, warnWhenRemaining: 3 } }, 'backupCodes.count'],
    [{ backupCodes: { enabled: true, count: 0, warnWhenRemaining: 3 } }, 'backupCodes.count'],
    [{ backupCodes: { enabled: true, count: 2.5, warnWhenRemaining: 3 } }, 'backupCodes.count'],
    [{ backupCodes: { enabled: true, count: 10, warnWhenRemaining: 21 } }, 'backupCodes.warnWhenRemaining'],
    [{ mfaUsage: 'sometimes' }, 'mfaUsage'],
    [{ backupCodes: { enabled: 'yes', count: 10, warnWhenRemaining: 3 } }, 'backupCodes.enabled'],
  ])('rejects %o naming %s, saving nothing', async (change, field) => {
    const admin = await addAdmin();
    const res = await api('PUT', '/api/admin/policy', { token: admin, body: { ...ENABLED, ...change } });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe(field);
    expect(res.body.error.message).toContain(field);
    expect((await api('GET', '/api/admin/policy', { token: admin })).body.backupCodes.enabled).toBe(false);
  });

  it('is for admins only', async () => {
    const admin = await addAdmin();
    await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'bob', password: 'bob-password' },
    });
    const bob = (
      await api('POST', '/api/auth/login', { body: { username: 'bob', password: 'bob-password' } })
    ).body.token;
    expect((await api('GET', '/api/admin/policy', { token: bob })).status).toBe(403);
    expect((await api('PUT', '/api/admin/policy', { token: bob, body: ENABLED })).status).toBe(403);
    expect((await api('GET', '/api/admin/users', { token: bob })).status).toBe(403);
    expect((await api('GET', '/api/admin/policy')).status).toBe(401);
  });
});

describe('accounts', () => {
  it('creates, lists and deletes users; a deleted user’s session dies', async () => {
    const admin = await addAdmin();
    const created = await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'carol', password: 'carol-password', role: 'user' },
    });
    expect(created.status).toBe(201);
    expect(created.body.user).toMatchObject({ username: 'carol', role: 'user' });

    const taken = await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'Carol', password: 'another-password' },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('username_taken');

    const weak = await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'dave', password: 'short' },
    });
    expect(weak.status).toBe(400);
    expect(weak.body.error.field).toBe('password');

    const list = await api('GET', '/api/admin/users', { token: admin });
    expect(list.body.users.map((u: { username: string }) => u.username)).toEqual(['admin', 'carol']);
    expect(list.body.users[1]).toMatchObject({
      mfa: { type: 'none', enrolled: false, configureLater: false },
      backupCodes: { total: 0, remaining: 0, lastUsedAt: null },
    });

    const carol = (
      await api('POST', '/api/auth/login', { body: { username: 'carol', password: 'carol-password' } })
    ).body.token;
    expect((await api('DELETE', `/api/admin/users/${created.body.user.id}`, { token: admin })).status).toBe(
      204,
    );
    expect((await api('GET', '/api/me', { token: carol })).status).toBe(401);
    expect((await api('DELETE', `/api/admin/users/${created.body.user.id}`, { token: admin })).status).toBe(
      404,
    );
  });

  it('path ids that are not ids get 400, unknown ids 404', async () => {
    const admin = await addAdmin();
    const bad = await api('DELETE', '/api/admin/users/..%2F..%2Fpolicy', { token: admin });
    expect(bad.status).toBe(400);
    const missing = await api('PATCH', '/api/admin/users/6f1c2a9e-8a4b-4c1d-9e2f-0a1b2c3d4e5f', {
      token: admin,
      body: { role: 'admin' },
    });
    expect(missing.status).toBe(404);
  });

  it('keeps at least one administrator', async () => {
    const admin = await addAdmin();
    const adminId = (await api('GET', '/api/me', { token: admin })).body.user.id;
    const demote = await api('PATCH', `/api/admin/users/${adminId}`, {
      token: admin,
      body: { role: 'user' },
    });
    expect(demote.status).toBe(409);
    expect((await api('DELETE', `/api/admin/users/${adminId}`, { token: admin })).body.error.code).toBe(
      'last_admin',
    );
  });
});

describe('authenticator app (TOTP)', () => {
  it('configured now: the secret is returned once, sign-in asks for a code, a replayed code is refused', async () => {
    const admin = await addAdmin();
    const alice = await addUserWithTotp(admin);
    expect(alice.secret).toMatch(/^[A-Z2-7]+$/);

    const login = await startBackupLogin(alice);
    expect(login.methods).toEqual(['totp']);
    const code = currentTotp(alice.secret, t.clock.now());
    const wrong = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'totp', code: code === '000000' ? '111111' : '000000' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_code');
    const ok = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'totp', code },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.user.username).toBe('alice');

    // The same 30-second code, seen by someone else, does not work a second time; it is told apart
    // from a wrong code (409, not counted towards the lockout).
    const again = await startBackupLogin(alice);
    const replay = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: again.mfaToken, method: 'totp', code },
    });
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('code_already_used');

    // The used mfaToken is dead.
    const reuse = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'totp', code },
    });
    expect(reuse.body.error.code).toBe('invalid_mfa_token');

    const users = await api('GET', '/api/admin/users', { token: admin });
    expect(JSON.stringify(users.body)).not.toContain(alice.secret);
  });

  it('accepts the previous and next step (clock drift) but not two steps away', async () => {
    const admin = await addAdmin();
    const alice = await addUserWithTotp(admin);
    const login = await startBackupLogin(alice);
    const stale = currentTotp(alice.secret, t.clock.now() - 60_000);
    const drift = currentTotp(alice.secret, t.clock.now() - 30_000);
    const bad = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'totp', code: stale },
    });
    if (stale !== drift && stale !== currentTotp(alice.secret, t.clock.now())) expect(bad.status).toBe(401);
    const ok = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'totp', code: drift },
    });
    expect(ok.status).toBe(200);
  });

  it('configured later by the user: enrols at the next sign-in, stored only after a first code', async () => {
    const admin = await addAdmin();
    const created = await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'erin', password: 'erin-password' },
    });
    const id = created.body.user.id;
    const patched = await api('PATCH', `/api/admin/users/${id}`, {
      token: admin,
      body: { mfa: { type: 'totp', configureLater: true } },
    });
    expect(patched.body.totp).toBeUndefined();
    expect(patched.body.user.mfa).toEqual({ type: 'totp', enrolled: false, configureLater: true });

    const login = await api('POST', '/api/auth/login', {
      body: { username: 'erin', password: 'erin-password' },
    });
    expect(login.body.status).toBe('mfa_enroll');
    expect(login.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(login.body.otpauthUri).toMatch(/^otpauth:\/\/totp\/SpareKey:erin\?/);

    const wrong = await api('POST', '/api/auth/enroll', {
      body: { mfaToken: login.body.mfaToken, code: '12345' },
    });
    expect(wrong.status).toBe(401);
    // Not enrolled yet: a fresh sign-in still asks to enrol.
    expect((await api('GET', '/api/admin/users', { token: admin })).body.users[1].mfa.enrolled).toBe(false);

    const ok = await api('POST', '/api/auth/enroll', {
      body: { mfaToken: login.body.mfaToken, code: currentTotp(login.body.secret, t.clock.now()) },
    });
    expect(ok.status).toBe(200);
    const me = await api('GET', '/api/me', { token: ok.body.token });
    expect(me.body.mfa).toEqual({ enabled: true, enrolled: true, type: 'totp' });

    t.clock.advance(30_000);
    const next = await api('POST', '/api/auth/login', {
      body: { username: 'erin', password: 'erin-password' },
    });
    expect(next.body.status).toBe('mfa_required');
    const mfa = await api('POST', '/api/auth/mfa', {
      body: {
        mfaToken: next.body.mfaToken,
        method: 'totp',
        code: currentTotp(login.body.secret, t.clock.now()),
      },
    });
    expect(mfa.status).toBe(200);
  });

  it('mfaTokens expire after 5 minutes', async () => {
    const admin = await addAdmin();
    const alice = await addUserWithTotp(admin);
    const login = await startBackupLogin(alice);
    t.clock.advance(5 * 60_000 + 1);
    const res = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'totp', code: currentTotp(alice.secret, t.clock.now()) },
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_mfa_token');
  });
});

describe('MFA usage modes', () => {
  it('required: a user with nothing configured must enrol', async () => {
    const admin = await addAdmin();
    await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'fred', password: 'fred-password' },
    });
    await setPolicy(admin, { ...ENABLED, mfaUsage: 'required' });
    const login = await api('POST', '/api/auth/login', {
      body: { username: 'fred', password: 'fred-password' },
    });
    expect(login.body.status).toBe('mfa_enroll');
  });

  it('optional per user: only users with MFA turned on are asked', async () => {
    const admin = await addAdmin();
    const alice = await addUserWithTotp(admin);
    await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'gina', password: 'gina-password' },
    });
    expect((await startBackupLogin(alice)).methods).toEqual(['totp']);
    const gina = await api('POST', '/api/auth/login', {
      body: { username: 'gina', password: 'gina-password' },
    });
    expect(gina.body.status).toBe('ok');
  });

  it('skipped: nobody is asked, and backup codes cannot be generated', async () => {
    const admin = await addAdmin();
    const alice = await addUserWithTotp(admin);
    await setPolicy(admin, { ...ENABLED, mfaUsage: 'skipped' });
    const login = await api('POST', '/api/auth/login', {
      body: { username: 'alice', password: alice.password },
    });
    expect(login.body.status).toBe('ok');
    const me = await api('GET', '/api/me', { token: login.body.token });
    expect(me.body.mfa.enabled).toBe(false);
    expect(me.body.backupCodes.reason.code).toBe('mfa_skipped');
    const gen = await api('POST', '/api/me/backup-codes', {
      token: login.body.token,
      body: { password: alice.password },
    });
    expect(gen.status).toBe(403);
  });
});

describe('backup codes', () => {
  async function aliceWithCodes(count = 10) {
    const admin = await addAdmin();
    await setPolicy(admin, { ...ENABLED, backupCodes: { ...ENABLED.backupCodes, count } });
    const alice = await addUserWithTotp(admin);
    const token = await signInWithTotp(alice);
    const gen = await api('POST', '/api/me/backup-codes', { token, body: { password: alice.password } });
    expect(gen.status).toBe(201);
    return { admin, alice, token, codes: gen.body.codes as { number: number; code: string }[] };
  }

  it('says why a user may not generate them', async () => {
    const admin = await addAdmin();
    await api('POST', '/api/admin/users', {
      token: admin,
      body: { username: 'hal', password: 'hal-password' },
    });
    const hal = (
      await api('POST', '/api/auth/login', { body: { username: 'hal', password: 'hal-password' } })
    ).body.token;
    let me = await api('GET', '/api/me', { token: hal });
    expect(me.body.backupCodes.reason).toEqual({
      code: 'backup_codes_disabled',
      message: 'Your administrator has not enabled backup codes.',
    });
    await setPolicy(admin, ENABLED);
    me = await api('GET', '/api/me', { token: hal });
    // MFA "None" under "optional per user": the user is told who can change that.
    expect(me.body.backupCodes.reason.message).toBe(
      'Multifactor authentication is off for your account, so backup codes are not used. Ask your administrator to set up multifactor authentication for your account.',
    );
    const gen = await api('POST', '/api/me/backup-codes', { token: hal, body: { password: 'hal-password' } });
    expect(gen.status).toBe(403);
    expect(gen.body.error.code).toBe('mfa_off_for_user');
  });

  it('generates `count` numbered codes once, needing the password again', async () => {
    const admin = await addAdmin();
    await setPolicy(admin, { ...ENABLED, backupCodes: { ...ENABLED.backupCodes, count: 6 } });
    const alice = await addUserWithTotp(admin);
    const token = await signInWithTotp(alice);
    const noPassword = await api('POST', '/api/me/backup-codes', { token, body: {} });
    expect(noPassword.status).toBe(400);
    const wrong = await api('POST', '/api/me/backup-codes', {
      token,
      body: { password: 'not-her-password' },
    });
    expect(wrong.status).toBe(401);
    expect((await api('GET', '/api/me', { token })).body.backupCodes.total).toBe(0);

    const gen = await api('POST', '/api/me/backup-codes', { token, body: { password: alice.password } });
    expect(gen.status).toBe(201);
    expect(gen.headers.get('cache-control')).toBe('no-store');
    expect(gen.body.codes.map((c: { number: number }) => c.number)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const { code } of gen.body.codes)
      expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    const me = await api('GET', '/api/me', { token });
    expect(me.body.backupCodes).toMatchObject({
      allowed: true,
      total: 6,
      remaining: 6,
      used: [],
      warn: false,
    });
    expect(me.body.backupCodes.generatedAt).toBe(gen.body.generatedAt);
    // Only hashes are kept: no code appears anywhere in the data directory.
    const files = await readdir(t.dataDir, { recursive: true });
    for (const file of files) {
      const content = await readFile(join(t.dataDir, file)).catch(() => Buffer.alloc(0));
      for (const { code } of gen.body.codes) {
        expect(content.includes(code)).toBe(false);
        expect(content.includes(code.replace('-', ''))).toBe(false);
      }
    }
  });

  it('a code signs in once, in any typing, and is then spent', async () => {
    const { alice, token, codes } = await aliceWithCodes();
    const third = codes[2];
    if (!third) throw new Error('no code');
    const login = await startBackupLogin(alice);
    expect(login.methods).toEqual(['totp', 'backup_code']);
    const typed = third.code.toLowerCase().replace('-', ' ').replaceAll('0', 'o').replaceAll('1', 'l');
    const ok = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: typed },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.backupCodes).toEqual({ remaining: 9 });

    const me = await api('GET', '/api/me', { token });
    expect(me.body.backupCodes).toMatchObject({ total: 10, remaining: 9, used: [3] });

    const again = await startBackupLogin(alice);
    const reused = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: again.mfaToken, method: 'backup_code', code: third.code },
    });
    // A spent code is recognised from its kept digest: said plainly, and not counted as a wrong guess.
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('code_already_used');

    const events = await api('GET', '/api/me/events', { token });
    const used = events.body.events.find((e: { type: string }) => e.type === 'backup_code_used');
    expect(used.details).toEqual({ number: 3, remaining: 9 });
    expect(JSON.stringify(events.body)).not.toContain(third.code);
  });

  it('one wrong attempt costs one hash, whatever the set size', async () => {
    const { alice } = await aliceWithCodes(20);
    const login = await startBackupLogin(alice);
    const before = t.calls.codeDigest;
    await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: 'AAAAA-AAAAA' },
    });
    expect(t.calls.codeDigest - before).toBe(1);
  });

  it('a new set kills the whole previous set at once; a new count applies to new sets only', async () => {
    const { admin, alice, token, codes } = await aliceWithCodes(10);
    await setPolicy(admin, { ...ENABLED, backupCodes: { ...ENABLED.backupCodes, count: 4 } });
    expect((await api('GET', '/api/me', { token })).body.backupCodes.total).toBe(10);

    const fresh = await api('POST', '/api/me/backup-codes', { token, body: { password: alice.password } });
    expect(fresh.body.codes).toHaveLength(4);
    const login = await startBackupLogin(alice);
    const old = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: codes[0]?.code },
    });
    expect(old.status).toBe(401);
    const ok = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: fresh.body.codes[0].code },
    });
    expect(ok.status).toBe(200);
  });

  it('warns when few remain', async () => {
    const { alice, token, codes } = await aliceWithCodes(4);
    for (const { code } of codes.slice(0, 2)) {
      const login = await startBackupLogin(alice);
      await api('POST', '/api/auth/mfa', { body: { mfaToken: login.mfaToken, method: 'backup_code', code } });
    }
    expect((await api('GET', '/api/me', { token })).body.backupCodes).toMatchObject({
      remaining: 2,
      warn: true,
    });
  });

  it('an admin can revoke a user’s set', async () => {
    const { admin, alice, token, codes } = await aliceWithCodes();
    expect((await api('DELETE', `/api/admin/users/${alice.id}/backup-codes`, { token: admin })).status).toBe(
      204,
    );
    expect((await api('GET', '/api/me', { token })).body.backupCodes.total).toBe(0);
    const login = await startBackupLogin(alice);
    expect(login.methods).toEqual(['totp']);
    const res = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: codes[0]?.code },
    });
    expect(res.status).toBe(401);
    const audit = await api('GET', `/api/admin/audit?userId=${alice.id}&type=backup_codes_revoked`, {
      token: admin,
    });
    expect(audit.body.events).toHaveLength(1);
  });

  it('turning backup codes off in the policy stops them working at sign-in', async () => {
    const { admin, alice, codes } = await aliceWithCodes();
    await setPolicy(admin, { ...ENABLED, backupCodes: { ...ENABLED.backupCodes, enabled: false } });
    const login = await startBackupLogin(alice);
    expect(login.methods).toEqual(['totp']);
    const res = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: codes[0]?.code },
    });
    expect(res.status).toBe(401);
  });

  it('50 concurrent sign-ins with one code: one succeeds, the rest are told it was used, nothing locks', async () => {
    const { alice, token, codes } = await aliceWithCodes();
    const logins = [];
    for (let i = 0; i < 50; i++) logins.push(await startBackupLogin(alice));
    const results = await Promise.all(
      logins.map((l) =>
        api('POST', '/api/auth/mfa', {
          body: { mfaToken: l.mfaToken, method: 'backup_code', code: codes[0]?.code },
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const others = results.filter((r) => r.status !== 200);
    expect(others.map((r) => r.body.error.code)).toEqual(Array(49).fill('code_already_used'));
    expect((await api('GET', '/api/me', { token })).body.backupCodes.remaining).toBe(9);
    // Not a single failure was counted: the account is not locked and another code signs in.
    const user = await t.deps.store.getUser(alice.id);
    expect(user?.mfaLockout).toMatchObject({ lockedUntil: null, consecutiveFailures: 0 });
    const next = await startBackupLogin(alice);
    const ok = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: next.mfaToken, method: 'backup_code', code: codes[1]?.code },
    });
    expect(ok.status).toBe(200);
  });
});

describe('lockout', () => {
  it('5 wrong codes lock the MFA step for 15 minutes, even for a right code; audited', async () => {
    const admin = await addAdmin();
    await setPolicy(admin, ENABLED);
    const alice = await addUserWithTotp(admin);
    const login = await startBackupLogin(alice);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api('POST', '/api/auth/mfa', {
        body: { mfaToken: login.mfaToken, method: 'backup_code', code: 'ZZZZZ-ZZZZZ' },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429]);

    const right = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'totp', code: currentTotp(alice.secret, t.clock.now()) },
    });
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(14 * 60);
    expect(right.body.error.code).toBe('too_many_attempts');
    expect(right.body.error.message).toMatch(/15 minutes/);

    const audit = await api('GET', `/api/admin/audit?userId=${alice.id}`, { token: admin });
    const types = audit.body.events.map((e: { type: string }) => e.type);
    expect(types).toContain('mfa_locked');
    expect(types.filter((x: string) => x === 'backup_code_failed')).toHaveLength(5);

    t.clock.advance(15 * 60_000 + 1000);
    const later = await startBackupLogin(alice);
    const ok = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: later.mfaToken, method: 'totp', code: currentTotp(alice.secret, t.clock.now()) },
    });
    expect(ok.status).toBe(200);
  });

  it('throttles one client address after many failures across accounts, not other addresses', async () => {
    await t.close();
    // Behind a trusted proxy the client address comes from X-Forwarded-For; the HTTP suite checks socket addresses.
    t = await buildTestApp({ ipFailureLimit: 3, trustProxy: true });
    await addAdmin();
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    for (let i = 0; i < 3; i++) {
      const res = await api('POST', '/api/auth/login', {
        headers: from('203.0.113.9'),
        body: { username: `user${i}`, password: 'nopenope' },
      });
      expect(res.status).toBe(401);
    }
    const blocked = await api('POST', '/api/auth/login', {
      headers: from('203.0.113.9'),
      body: { username: 'admin', password: 'admin-password' },
    });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
    const other = await api('POST', '/api/auth/login', {
      headers: from('198.51.100.7'),
      body: { username: 'admin', password: 'admin-password' },
    });
    expect(other.status).toBe(200);
  });
});

describe('audit log', () => {
  it('records generation, use, failure, with IP and user agent, never a code', async () => {
    const admin = await addAdmin();
    await setPolicy(admin, ENABLED);
    const alice = await addUserWithTotp(admin);
    const token = await signInWithTotp(alice);
    const gen = await api('POST', '/api/me/backup-codes', {
      token,
      body: { password: alice.password },
      headers: { 'user-agent': 'TestAgent/1.0' },
    });
    const login = await startBackupLogin(alice);
    await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: 'WRONG-WRONG' },
    });
    await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.mfaToken, method: 'backup_code', code: gen.body.codes[1].code },
    });
    const audit = await api('GET', '/api/admin/audit?limit=50', { token: admin });
    const types = audit.body.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['backup_codes_generated', 'backup_code_failed', 'backup_code_used']),
    );
    expect(types.indexOf('backup_code_used')).toBeLessThan(types.indexOf('backup_codes_generated')); // newest first
    const generated = audit.body.events.find((e: { type: string }) => e.type === 'backup_codes_generated');
    expect(generated).toMatchObject({ actor: { username: 'alice' }, userAgent: 'TestAgent/1.0' });
    const raw = await readFile(join(t.dataDir, 'audit.jsonl'), 'utf8');
    for (const { code } of gen.body.codes) expect(raw).not.toContain(code);

    const limited = await api('GET', '/api/admin/audit?limit=2', { token: admin });
    expect(limited.body.events).toHaveLength(2);
    expect((await api('GET', '/api/admin/audit?limit=0', { token: admin })).status).toBe(400);
    expect((await api('GET', '/api/admin/audit?type=nope', { token: admin })).status).toBe(400);
  });
});
