/**
 * Two real server processes (`server/main.ts`) on one PostgreSQL database, started together on an
 * empty database, with requests alternating between them as a round-robin load balancer sends them:
 * every one-time and lockout guarantee holds across the pair, and any instance serves any step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { postgresEnv } from './servers';

describe('two instances on one database', () => {
  let servers: RunningServer[] = [];
  let admin: string;
  let turn = 0;
  /** The next instance, round-robin. */
  const next = () => servers[turn++ % servers.length] as RunningServer;

  beforeAll(async () => {
    const env = postgresEnv(await createDatabase('instances'));
    servers = await Promise.all([startServer({ env }), startServer({ env })]);
    admin = await adminToken(next());
    await enableBackupCodes(next(), admin, 10);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('start together on an empty database: one schema, one admin, both healthy', async () => {
    const users = await call(next().url, 'GET', '/api/admin/users', { token: admin });
    expect(users.status).toBe(200);
    expect(users.body.users.map((user: { username: string }) => user.username)).toEqual(['admin']);
    for (const server of servers) {
      expect((await call(server.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
      expect(server.output()).toContain('"store":"postgres"');
    }
  });

  it('50 concurrent spends of one code, split across both: exactly one succeeds', async () => {
    const user = await createTotpUser(next(), admin, 'spender');
    const session = await signInWithTotp(next(), user);
    const [code] = await generateCodes(next(), user, session);
    // Each sign-in's password step and code step land on different instances. The password steps
    // one after another: the account's lockout lets only a few run at once (attempts in flight count).
    const mfaTokens: string[] = [];
    for (let i = 0; i < 50; i++) mfaTokens.push(await startMfa(next(), user));
    const results = await Promise.all(
      mfaTokens.map((mfaToken) =>
        call(next().url, 'POST', '/api/auth/mfa', { body: { mfaToken, method: 'backup_code', code } }),
      ),
    );
    expect(results.filter((result) => result.status === 200)).toHaveLength(1);
    // The rest are told the code was used (its digest is kept), whichever instance judged them.
    expect(
      results.filter((result) => result.status === 409 && result.body.error.code === 'code_already_used'),
    ).toHaveLength(49);
    for (const server of servers) {
      const me = await call(server.url, 'GET', '/api/me', { token: session });
      expect(me.body.backupCodes).toMatchObject({ remaining: 9, used: [1] });
    }
  });

  it('a lockout reached through one instance holds on the other', async () => {
    const user = await createTotpUser(next(), admin, 'guesser');
    const attempts = [];
    for (let i = 0; i < 5; i++) {
      const mfaToken = await startMfa(next(), user);
      attempts.push(
        await call(next().url, 'POST', '/api/auth/mfa', {
          body: { mfaToken, method: 'totp', code: '000000' },
        }),
      );
    }
    expect(attempts.map((attempt) => attempt.status)).toEqual([401, 401, 401, 401, 429]);
    // The right code now, on each instance: both refuse before checking it.
    for (const server of servers) {
      const mfaToken = await startMfa(server, user);
      const res = await call(server.url, 'POST', '/api/auth/mfa', {
        body: { mfaToken, method: 'totp', code: currentTotp(user.secret, Date.now()) },
      });
      expect(res.status).toBe(429);
      expect(res.body.error.code).toBe('too_many_attempts');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('a session started on one works on the other and ends on both at logout', async () => {
    const [one, two] = servers as [RunningServer, RunningServer];
    const user = await createTotpUser(one, admin, 'traveller');
    const session = await signInWithTotp(one, user);
    expect((await call(two.url, 'GET', '/api/me', { token: session })).body.user.username).toBe('traveller');
    expect((await call(two.url, 'POST', '/api/auth/logout', { token: session })).status).toBe(204);
    for (const server of servers) {
      const me = await call(server.url, 'GET', '/api/me', { token: session });
      expect(me.status).toBe(401);
    }
  });

  it('a TOTP step accepted by one instance is refused by the other', async () => {
    const [one, two] = servers as [RunningServer, RunningServer];
    const user: BenchUser = await createTotpUser(one, admin, 'replayer');
    const code = currentTotp(user.secret, Date.now());
    const accepted = await call(one.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await startMfa(one, user), method: 'totp', code },
    });
    expect(accepted.status).toBe(200);
    const replayed = await call(two.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await startMfa(two, user), method: 'totp', code },
    });
    // Told apart from a wrong code (and not counted as a failure), as on one instance.
    expect(replayed.status).toBe(409);
    expect(replayed.body.error.code).toBe('code_already_used');
  });

  it('a new set generated on one instance kills the old set on the other at once', async () => {
    const [one, two] = servers as [RunningServer, RunningServer];
    const user = await createTotpUser(one, admin, 'regenerator');
    const session = await signInWithTotp(one, user);
    const oldCodes = await generateCodes(one, user, session);
    // One old code spent on the first instance, so it has read (and could have kept) the old set.
    const spent = await call(one.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await startMfa(one, user), method: 'backup_code', code: oldCodes[0] },
    });
    expect(spent.status).toBe(200);
    const newCodes = await generateCodes(two, user, session);
    const old = await call(one.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await startMfa(one, user), method: 'backup_code', code: oldCodes[1] },
    });
    expect(old.status).toBe(401);
    const fresh = await call(one.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await startMfa(one, user), method: 'backup_code', code: newCodes[0] },
    });
    expect(fresh.status).toBe(200);
    expect(fresh.body.backupCodes).toEqual({ remaining: 9 });
  });
});
