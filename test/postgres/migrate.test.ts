/**
 * `npm run store:migrate`: a store made by the real lowdb server (users, sets with spent and unspent
 * codes, audit events) is copied into PostgreSQL; the PostgreSQL server then accepts the unspent
 * codes, refuses the spent ones and shows each user the same /api/me. A second run changes nothing;
 * a run into a database that holds other data is refused.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  type BenchUser,
  createTotpUser,
  enableBackupCodes,
  generateCodes,
  signInWithTotp,
  startMfa,
} from '../../bench/accounts';
import { currentTotp } from '../../server/crypto/totp';
import { call, type RunningServer, startServer } from '../support/server';
import { createDatabase } from './databases';
import { FAST_ARGON2, postgresEnv, STORAGE_KEY_ENV } from './servers';

const ROOT = resolve(import.meta.dirname, '../..');

function migrateCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('npm', ['run', '--silent', 'store:migrate', '--', ...args], {
      cwd: ROOT,
      // The key the PostgreSQL store is sealed under, as its servers (postgresEnv) hold it.
      env: { ...process.env, ...STORAGE_KEY_ENV },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

interface Person {
  user: BenchUser;
  codes: string[];
  spent: number[];
  me: unknown;
}

const spend = (server: RunningServer, user: BenchUser, code: string) =>
  startMfa(server, user).then((mfaToken) =>
    call(server.url, 'POST', '/api/auth/mfa', { body: { mfaToken, method: 'backup_code', code } }),
  );

describe('migrating a lowdb store into PostgreSQL', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('copies users, sets and the audit log; the PostgreSQL server then behaves as the lowdb one did', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-migrate-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const lowdb = await startServer({ dataDir, env: { ...FAST_ARGON2, PASSWORD_LOCKOUT_ATTEMPTS: '3' } });
    const admin = await adminToken(lowdb);
    await enableBackupCodes(lowdb, admin, 10);
    const people: Person[] = [];
    for (const [name, spendCount] of [
      ['ada', 2],
      ['bea', 0],
      ['cyd', 1],
    ] as const) {
      const user = await createTotpUser(lowdb, admin, name);
      const session = await signInWithTotp(lowdb, user);
      const codes = await generateCodes(lowdb, user, session);
      const spent: number[] = [];
      for (let n = 0; n < spendCount; n++) {
        expect((await spend(lowdb, user, codes[n] as string)).status).toBe(200);
        spent.push(n + 1);
      }
      const me = (await call(lowdb.url, 'GET', '/api/me', { token: session })).body;
      expect(me.backupCodes.used).toEqual(spent);
      people.push({ user, codes, spent, me });
    }
    // An OpenID Connect application (and with it the provider's keys), and an account locked out.
    const application = await call(lowdb.url, 'POST', '/api/admin/applications', {
      token: admin,
      body: { name: 'Grafana', type: 'public', redirectUris: ['https://grafana.example/cb'] },
    });
    expect(application.status).toBe(201);
    const jwksBefore = await (await fetch(`${lowdb.url}/oidc/jwks`)).json();
    const locked = await createTotpUser(lowdb, admin, 'dee');
    for (let n = 0; n < 3; n++) {
      const wrong = await call(lowdb.url, 'POST', '/api/auth/login', {
        body: { username: locked.username, password: 'not the password' },
      });
      // The third failure locks the account (PASSWORD_LOCKOUT_ATTEMPTS above) and says so.
      expect(wrong.status).toBe(n < 2 ? 401 : 429);
    }
    const auditBefore = (await call(lowdb.url, 'GET', '/api/admin/audit?limit=500', { token: admin })).body
      .events;
    const adminMe = (await call(lowdb.url, 'GET', '/api/me', { token: admin })).body;
    expect(await lowdb.stop({ keepData: true })).toBe(0);

    const databaseUrl = await createDatabase('migrate');
    const first = await migrateCli(['--from', dataDir, '--to', databaseUrl]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('policy        copied');
    expect(first.stdout).toContain('users         5 copied, 0 already there, 5 checked');
    expect(first.stdout).toContain('applications  1 copied, 0 already there');
    expect(first.stdout).toContain('oidc keys     copied');
    expect(first.stdout).toContain('backup codes  3 sets, 30 codes (3 spent)');
    expect(first.stdout).toMatch(new RegExp(`audit events  ${auditBefore.length} copied, 0 already there`));
    expect(first.stdout).not.toContain('postgres://');

    const second = await migrateCli(['--from', dataDir, '--to', databaseUrl]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('policy        already there');
    expect(second.stdout).toContain('users         0 copied, 5 already there, 5 checked');
    expect(second.stdout).toContain('applications  0 copied, 1 already there');
    expect(second.stdout).toContain('oidc keys     already there');
    expect(second.stdout).toMatch(new RegExp(`audit events  0 copied, ${auditBefore.length} already there`));

    const postgres = await startServer({ env: postgresEnv(databaseUrl) });
    cleanup.push(() => postgres.stop());
    const pgAdmin = await adminToken(postgres);
    expect((await call(postgres.url, 'GET', '/api/me', { token: pgAdmin })).body).toEqual(adminMe);
    const apps = (await call(postgres.url, 'GET', '/api/admin/applications', { token: pgAdmin })).body;
    expect(apps.applications).toEqual([application.body.application]);
    expect(await (await fetch(`${postgres.url}/oidc/jwks`)).json()).toEqual(jwksBefore);
    // The lockout came along: the right password is refused while the account is locked.
    const stillLocked = await call(postgres.url, 'POST', '/api/auth/login', {
      body: { username: locked.username, password: locked.password },
    });
    expect(stillLocked.status).toBe(429);
    const auditAfter = (await call(postgres.url, 'GET', '/api/admin/audit?limit=500', { token: pgAdmin }))
      .body.events;
    // The copied log, under the sign-in the admin just made.
    expect(auditAfter.slice(-auditBefore.length)).toEqual(auditBefore);

    for (const person of people) {
      // The next time step: the one the lowdb sign-in used was copied as already accepted.
      const mfaToken = await startMfa(postgres, person.user);
      const signedIn = await call(postgres.url, 'POST', '/api/auth/mfa', {
        body: { mfaToken, method: 'totp', code: currentTotp(person.user.secret, Date.now() + 30_000) },
      });
      expect(signedIn.status).toBe(200);
      expect((await call(postgres.url, 'GET', '/api/me', { token: signedIn.body.token })).body).toEqual(
        person.me,
      );
      for (const number of person.spent) {
        // Spent codes came with their digests: recognised as used, not counted as a wrong guess.
        const refused = await spend(postgres, person.user, person.codes[number - 1] as string);
        expect(refused.status).toBe(409);
        expect(refused.body.error.code).toBe('code_already_used');
      }
      const unused = person.spent.length + 1;
      const accepted = await spend(postgres, person.user, person.codes[unused - 1] as string);
      expect(accepted.status).toBe(200);
      expect(accepted.body.backupCodes).toEqual({ remaining: 10 - unused });
    }

    // The database now holds events of its own: a new copy into it is refused, and changes nothing.
    const refused = await migrateCli(['--from', dataDir, '--to', databaseUrl]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/holds data that did not come from this DATA_DIR .*Refusing to mix/);
  });
});
