/**
 * Break-glass (`npm run admin`) on the PostgreSQL store: the same commands, with DATABASE_URL, while
 * a server keeps running on the database (each change is one transaction, as over the admin API).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../support/cli';
import { call, type RunningServer, startServer } from '../support/server';
import { createDatabase } from './databases';
import { FAST_ARGON2, postgresEnv } from './servers';

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
    env = postgresEnv(await createDatabase('admin_cli'));
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
    runAdmin(emptyDir, args, { input, env: { DATABASE_URL: env.DATABASE_URL ?? '', ...FAST_ARGON2 } });

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

  it('an unknown user is refused and nothing is written', async () => {
    const newest = async () =>
      (await call(server.url, 'GET', '/api/admin/audit?limit=1', { token: admin })).body.events[0].id;
    const before = await newest();
    const run = await admin$(['unlock', 'nobody', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('There is no user named "nobody"');
    expect(await newest()).toBe(before);
  });
});
