/**
 * The real server (`server/main.ts`) over HTTP on a random loopback port with a temporary DATA_DIR
 * and argon2id at its real cost: what `npm start` runs.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { call, type RunningServer, startServer } from '../support/server';

interface Alice {
  username: string;
  password: string;
  secret: string;
  id: string;
}

const secretsUsed = new Set<string>();

async function adminToken(server: RunningServer) {
  const res = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  expect(res.body.status).toBe('ok');
  secretsUsed.add(server.adminPassword);
  secretsUsed.add(res.body.token);
  return res.body.token as string;
}

async function setUp(server: RunningServer, count: number): Promise<Alice & { admin: string }> {
  const admin = await adminToken(server);
  const policy = {
    mfaUsage: 'optional_per_user',
    backupCodes: { enabled: true, count, warnWhenRemaining: 2 },
  };
  expect((await call(server.url, 'PUT', '/api/admin/policy', { token: admin, body: policy })).status).toBe(
    200,
  );
  const password = 'alice-password-123';
  secretsUsed.add(password);
  const created = await call(server.url, 'POST', '/api/admin/users', {
    token: admin,
    body: { username: 'alice', password },
  });
  const id = created.body.user.id;
  const patched = await call(server.url, 'PATCH', `/api/admin/users/${id}`, {
    token: admin,
    body: { mfa: { type: 'totp' } },
  });
  secretsUsed.add(patched.body.totp.secret);
  return { admin, username: 'alice', password, secret: patched.body.totp.secret, id };
}

async function mfaToken(server: RunningServer, alice: Alice) {
  const res = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: alice.username, password: alice.password },
  });
  expect(res.body.status).toBe('mfa_required');
  secretsUsed.add(res.body.mfaToken);
  return res.body.mfaToken as string;
}

async function spend(server: RunningServer, alice: Alice, code: string) {
  const res = await call(server.url, 'POST', '/api/auth/mfa', {
    body: { mfaToken: await mfaToken(server, alice), method: 'backup_code', code },
  });
  if (res.body?.token) secretsUsed.add(res.body.token);
  return res;
}

/** TOTP steps are single-use: wait for a fresh 30-second step before signing in with one. */
async function signInWithTotp(server: RunningServer, alice: Alice) {
  const token = await mfaToken(server, alice);
  const res = await call(server.url, 'POST', '/api/auth/mfa', {
    body: { mfaToken: token, method: 'totp', code: currentTotp(alice.secret, Date.now()) },
  });
  expect(res.status).toBe(200);
  secretsUsed.add(res.body.token);
  return res.body.token as string;
}

async function generate(server: RunningServer, alice: Alice, session: string) {
  const res = await call(server.url, 'POST', '/api/me/backup-codes', {
    token: session,
    body: { password: alice.password },
  });
  expect(res.status).toBe(201);
  const codes = (res.body.codes as { code: string }[]).map((c) => c.code);
  for (const code of codes) secretsUsed.add(code);
  return codes;
}

describe('the real server', () => {
  let server: RunningServer;
  let alice: Alice & { admin: string };
  let codes: string[];
  let session: string;

  beforeAll(async () => {
    // These tests are about one-time use, not shedding (overload-http.test.ts): on a busy machine 50
    // real argon2id at once may wait past the default bound, and a shed 503 is not what they judge.
    server = await startServer({ env: { ARGON2_QUEUE_MAX_WAIT_MS: '600000' } });
    alice = await setUp(server, 10);
    session = await signInWithTotp(server, alice);
    codes = await generate(server, alice, session);
  });
  afterAll(async () => {
    const exit = await server?.stop();
    // SIGTERM is a graceful stop: exit code 0.
    expect(exit).toBe(0);
    // No password, code or token of this whole run reached the logs.
    const logs = server.output();
    expect(logs).toContain('"msg":"request"');
    for (const secret of secretsUsed) expect(logs.includes(secret), 'a secret reached the logs').toBe(false);
  });

  it('signs in with a backup code over HTTP and counts it spent', async () => {
    const res = await spend(server, alice, codes[0] as string);
    expect(res.status).toBe(200);
    expect(res.body.backupCodes).toEqual({ remaining: 9 });
    const me = await call(server.url, 'GET', '/api/me', { token: session });
    expect(me.body.backupCodes).toMatchObject({ total: 10, remaining: 9, used: [1] });
  });

  it('50 concurrent sign-ins with one code: exactly one 200, the rest told it was used', async () => {
    // The password steps one after another: the account's lockout lets only a few run at once.
    const tokens: string[] = [];
    for (let i = 0; i < 50; i++) tokens.push(await mfaToken(server, alice));
    const results = await Promise.all(
      tokens.map((token) =>
        call(server.url, 'POST', '/api/auth/mfa', {
          body: { mfaToken: token, method: 'backup_code', code: codes[1] },
        }),
      ),
    );
    for (const r of results) if (r.body?.token) secretsUsed.add(r.body.token);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409 && r.body.error.code === 'code_already_used')).toHaveLength(
      49,
    );
    const me = await call(server.url, 'GET', '/api/me', { token: session });
    expect(me.body.backupCodes.remaining).toBe(8);
  });

  it('an admin reset over HTTP: the sessions end, the temporary password opens only the change', async () => {
    const bob = await call(server.url, 'POST', '/api/admin/users', {
      token: alice.admin,
      body: { username: 'bob', password: 'bob-original-password' },
    });
    secretsUsed.add('bob-original-password');
    const before = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'bob', password: 'bob-original-password' },
    });
    secretsUsed.add(before.body.token);
    const reset = await call(server.url, 'POST', `/api/admin/users/${bob.body.user.id}/password`, {
      token: alice.admin,
      body: {},
    });
    expect(reset.status).toBe(200);
    const temporary = reset.body.password as string;
    secretsUsed.add(temporary);
    expect((await call(server.url, 'GET', '/api/me', { token: before.body.token })).status).toBe(401);

    const restricted = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'bob', password: temporary },
    });
    secretsUsed.add(restricted.body.token);
    const refused = await call(server.url, 'GET', '/api/me/events', { token: restricted.body.token });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('password_change_required');
    const changed = await call(server.url, 'POST', '/api/me/password', {
      token: restricted.body.token,
      body: { currentPassword: temporary, newPassword: 'bob-chose-his-own' },
    });
    secretsUsed.add('bob-chose-his-own');
    expect(changed.status).toBe(200);
    secretsUsed.add(changed.body.token);
    expect((await call(server.url, 'GET', '/api/me/events', { token: changed.body.token })).status).toBe(200);
    expect((await call(server.url, 'GET', '/api/me', { token: restricted.body.token })).status).toBe(401);
  });

  it('answers no CORS headers, even to a foreign origin', async () => {
    const preflight = await fetch(new URL('/api/auth/login', server.url), {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const res = await fetch(new URL('/api/me', server.url), { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('every answer over HTTP (a sign-in, its refusal, a read, a body too large) carries the request id, no-store and the security headers', async () => {
    const wrong = await call(server.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await mfaToken(server, alice), method: 'backup_code', code: 'AAAAA-AAAAA' },
    });
    const signedIn = await spend(server, alice, codes[9] as string);
    const me = await call(server.url, 'GET', '/api/me', { token: session });
    const huge = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'alice', password: 'x'.repeat(20_000) },
    });
    expect([wrong.status, signedIn.status, me.status, huge.status]).toEqual([401, 200, 200, 413]);
    expect(signedIn.body.backupCodes).toMatchObject({ remaining: expect.any(Number) });
    const ids = new Set<string | null>();
    for (const res of [wrong, signedIn, me, huge]) {
      ids.add(res.headers.get('x-request-id'));
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0);
    }
    expect([...ids].every((id) => /^[0-9a-f-]{36}$/.test(id ?? ''))).toBe(true);
    expect(ids.size).toBe(4);
  });
});

describe('restarts and first start', () => {
  it('a spent code stays spent and a replaced set stays dead after a crash and restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-restart-'));
    try {
      let server = await startServer({ dataDir });
      const alice = await setUp(server, 4);
      const session = await signInWithTotp(server, alice);
      const oldCodes = await generate(server, alice, session);
      const newCodes = await generate(server, alice, session);
      expect((await spend(server, alice, newCodes[0] as string)).status).toBe(200);
      // SIGKILL: no chance to flush anything that was not already on disk.
      await server.stop({ signal: 'SIGKILL' });

      server = await startServer({ dataDir });
      expect((await spend(server, alice, newCodes[0] as string)).status).toBe(409);
      expect((await spend(server, alice, oldCodes[1] as string)).status).toBe(401);
      expect((await spend(server, alice, newCodes[1] as string)).status).toBe(200);
      await server.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a second server on the same DATA_DIR, and takes over the lock of a killed one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-dirlock-'));
    try {
      const first = await startServer({ dataDir });
      await expect(startServer({ dataDir })).rejects.toThrow(/in use by process/);
      await first.stop({ signal: 'SIGKILL' });
      const second = await startServer({ dataDir });
      expect((await call(second.url, 'GET', '/healthz')).status).toBe(200);
      expect(await second.stop()).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('a lockout holds across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-lock-'));
    try {
      let server = await startServer({ dataDir });
      const alice = await setUp(server, 4);
      const token = await mfaToken(server, alice);
      for (let i = 0; i < 5; i++) {
        await call(server.url, 'POST', '/api/auth/mfa', {
          body: { mfaToken: token, method: 'backup_code', code: 'ZZZZZ-ZZZZZ' },
        });
      }
      await server.stop({ signal: 'SIGKILL' });
      server = await startServer({ dataDir });
      const res = await call(server.url, 'POST', '/api/auth/mfa', {
        body: {
          mfaToken: await mfaToken(server, alice),
          method: 'totp',
          code: currentTotp(alice.secret, Date.now()),
        },
      });
      expect(res.status).toBe(429);
      await server.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('throttles the client address after IP_FAILURE_LIMIT failures', async () => {
    const server = await startServer({ env: { IP_FAILURE_LIMIT: '3' } });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await call(server.url, 'POST', '/api/auth/login', {
          body: { username: `nobody${i}`, password: 'wrong-password' },
        });
        expect(res.status).toBe(401);
      }
      const res = await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password: server.adminPassword },
      });
      expect(res.status).toBe(429);
    } finally {
      await server.stop();
    }
  });

  it('without BOOTSTRAP_ADMIN_PASSWORD, generates one (printed once, 0600) that must be changed, then deletes its file', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-bootstrap-'));
    try {
      let server = await startServer({ dataDir, env: { BOOTSTRAP_ADMIN_PASSWORD: '' } });
      const file = join(server.dataDir, 'initial-admin-password');
      const password = (await readFile(file, 'utf8')).trim();
      expect(password.length).toBeGreaterThanOrEqual(20);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(server.output().split(password).length - 1).toBe(1);
      const login = await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password },
      });
      expect(login.body.status).toBe('ok');
      const restricted = login.body.token as string;
      const me = await call(server.url, 'GET', '/api/me', { token: restricted });
      expect(me.body.mustChangePassword).toBe(true);
      const refused = await call(server.url, 'GET', '/api/admin/users', { token: restricted });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('password_change_required');

      // A restart before the change keeps the file: the password is still the only way in.
      await server.stop({ keepData: true });
      server = await startServer({ dataDir, env: { BOOTSTRAP_ADMIN_PASSWORD: '' } });
      expect(existsSync(file)).toBe(true);
      const again = await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password },
      });
      const changed = await call(server.url, 'POST', '/api/me/password', {
        token: again.body.token,
        body: { currentPassword: password, newPassword: 'the-admin-chose-this' },
      });
      expect(changed.status).toBe(200);
      expect(existsSync(file), 'the generated password file is deleted').toBe(false);
      const users = await call(server.url, 'GET', '/api/admin/users', { token: changed.body.token });
      expect(users.status).toBe(200);
      const old = await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password },
      });
      expect(old.status).toBe(401);
      await server.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a BOOTSTRAP_ADMIN_PASSWORD that breaks the password rule, saying why, without a stack trace', async () => {
    for (const [password, reason] of [
      ['x', 'at least 8 characters'],
      ['Password123', 'commonly used'],
    ] as const) {
      const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-weak-'));
      try {
        const failed = await startServer({ dataDir, env: { BOOTSTRAP_ADMIN_PASSWORD: password } }).then(
          () => null,
          (error: Error) => error.message,
        );
        expect(failed).toContain('BOOTSTRAP_ADMIN_PASSWORD is refused');
        expect(failed).toContain(reason);
        expect(failed).not.toMatch(/\n\s+at /);
        expect(await readdir(dataDir)).toEqual([]);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    }
  });
});
