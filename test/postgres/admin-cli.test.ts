/**
 * Break-glass (`npm run admin`) on the PostgreSQL store: all four commands, with DATABASE_URL, while
 * a server keeps running on the database (each change is one transaction, as over the admin API;
 * nothing here holds a DATA_DIR, so there is no lock to refuse on).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { runAdmin } from '../support/cli';
import { call, type RunningServer, startServer } from '../support/server';
import { createDatabase } from './databases';
import { FAST_ARGON2, postgresEnv, STORAGE_KEY_ENV } from './servers';

describe('npm run admin on PostgreSQL', () => {
  let server: RunningServer;
  let env: Record<string, string>;
  let emptyDir: string;
  let admin: string;

  const token = async (username: string, password: string) => {
    const res = await call(server.url, 'POST', '/api/auth/login', { body: { username, password } });
    expect(res.body.status, JSON.stringify(res.body)).toBe('ok');
    return res.body.token as string;
  };

  beforeAll(async () => {
    // Three wrong passwords lock an account for an hour: only an unlock opens it within the test.
    env = postgresEnv(await createDatabase('admin_cli'), {
      PASSWORD_LOCKOUT_ATTEMPTS: '3',
      PASSWORD_LOCKOUT_MINUTES: '60',
    });
    server = await startServer({ env });
    // The commands must not need a DATA_DIR with PostgreSQL: point them at an empty one.
    emptyDir = await mkdtemp(join(tmpdir(), 'sparekey-admin-pg-'));
    admin = await token('admin', server.adminPassword);
    const created = await call(server.url, 'POST', '/api/admin/users', {
      token: admin,
      body: { username: 'bob', password: 'bob-password-123' },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    await rm(emptyDir, { recursive: true, force: true });
  });

  const admin$ = (args: string[], input = '') =>
    runAdmin(emptyDir, args, {
      input,
      env: { DATABASE_URL: env.DATABASE_URL ?? '', ...FAST_ARGON2, ...STORAGE_KEY_ENV },
    });

  it('promote and set-password change the database the running server uses', async () => {
    const bob = await token('bob', 'bob-password-123');
    expect((await call(server.url, 'GET', '/api/admin/users', { token: bob })).status).toBe(403);

    const promoted = await admin$(['promote', 'bob', '--yes']);
    expect(promoted.stderr).toBe('');
    expect(promoted.code).toBe(0);
    expect((await call(server.url, 'GET', '/api/admin/users', { token: bob })).status).toBe(200);

    const reset = await admin$(['set-password', 'bob', '--yes'], 'bob-temporary-pass\n');
    expect(reset.code).toBe(0);
    // The reset ended bob's sessions; the temporary password works and must be changed.
    expect((await call(server.url, 'GET', '/api/me', { token: bob })).status).toBe(401);
    const again = await token('bob', 'bob-temporary-pass');
    expect((await call(server.url, 'GET', '/api/me', { token: again })).body.mustChangePassword).toBe(true);

    const audit = await call(server.url, 'GET', '/api/admin/audit?limit=20', { token: admin });
    const host = (audit.body.events as { type: string; actor: unknown; details?: { via?: string } }[])
      .filter((e) => e.details?.via === 'host')
      .map((e) => [e.type, e.actor]);
    expect(host).toEqual([
      ['password_reset', null],
      ['user_updated', null],
    ]);
  });

  it('reset-mfa and unlock change the database the running server uses', async () => {
    const created = await call(server.url, 'POST', '/api/admin/users', {
      token: admin,
      body: { username: 'carol', password: 'carol-password-123' },
    });
    const configured = await call(server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
      token: admin,
      body: { mfa: { type: 'totp' } },
    });
    const oldSecret = configured.body.totp.secret as string;
    const login = (password: string) =>
      call(server.url, 'POST', '/api/auth/login', { body: { username: 'carol', password } });
    expect((await login('carol-password-123')).body.status).toBe('mfa_required');
    // carol locks her password step; even her right password is refused now.
    const wrong = [];
    for (let i = 0; i < 3; i++) wrong.push((await login('not-carols-password')).status);
    expect(wrong).toEqual([401, 401, 429]);
    expect((await login('carol-password-123')).status).toBe(429);

    const unlocked = await admin$(['unlock', 'carol', '--yes']);
    expect(unlocked.stderr).toBe('');
    expect(unlocked.code).toBe(0);
    expect((await login('carol-password-123')).body.status).toBe('mfa_required');

    const reset = await admin$(['reset-mfa', 'carol', '--yes']);
    expect(reset.code).toBe(0);
    // The next sign-in sets up a new authenticator; the old one is gone.
    const enrol = await login('carol-password-123');
    expect(enrol.body.status).toBe('mfa_enroll');
    expect(enrol.body.secret).not.toBe(oldSecret);
    const enrolled = await call(server.url, 'POST', '/api/auth/enroll', {
      body: { mfaToken: enrol.body.mfaToken, code: currentTotp(enrol.body.secret, Date.now()) },
    });
    expect(enrolled.status).toBe(200);

    const audit = await call(server.url, 'GET', '/api/admin/audit?limit=50', { token: admin });
    const host = (
      audit.body.events as {
        type: string;
        actor: unknown;
        subject: { username: string } | null;
        details?: { via?: string };
      }[]
    )
      .filter((e) => e.details?.via === 'host' && e.subject?.username === 'carol')
      .map((e) => [e.type, e.actor]);
    expect(host).toEqual([
      ['mfa_configured', null],
      ['user_unlocked', null],
    ]);
  });

  it('an unknown user is refused and nothing is written', async () => {
    const newest = async () =>
      (await call(server.url, 'GET', '/api/admin/audit?limit=1', { token: admin })).body.events[0].id;
    const before = await newest();
    const run = await admin$(['unlock', 'nobody', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('There is no user named "nobody"');
    expect(await newest()).toBe(before);
  });

  it('list-users lists the accounts of the database the running server uses, and writes nothing', async () => {
    const newest = async () =>
      (await call(server.url, 'GET', '/api/admin/audit?limit=1', { token: admin })).body.events[0].id;
    const created = await call(server.url, 'POST', '/api/admin/users', {
      token: admin,
      body: { username: 'frank', password: 'frank-password-123' },
    });
    expect(created.status).toBe(201);
    const configured = await call(server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
      token: admin,
      body: { mfa: { type: 'totp' } },
    });
    expect(configured.status).toBe(200);
    const before = await newest();
    const run = await admin$(['list-users']);
    expect(run.code, run.stderr).toBe(0);
    const rows = run.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^USERNAME +ROLE +MFA +LOCKED +MUST CHANGE PASSWORD$/);
    const row = (name: string) => rows.find((line) => line.startsWith(`${name} `))?.split(/ {2,}/);
    expect(row('admin')?.slice(0, 2)).toEqual(['admin', 'admin']);
    expect(row('bob')?.[0]).toBe('bob');
    expect(row('frank')).toEqual(['frank', 'user', 'totp set up', 'no', 'no']);
    const users = await call(server.url, 'GET', '/api/admin/users', { token: admin });
    expect(rows).toHaveLength(users.body.users.length + 1);
    expect(await newest()).toBe(before);
  });
});
