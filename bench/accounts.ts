/** Sets up accounts on a running server through its public API, as an administrator would. */
import { currentTotp } from '../server/crypto/totp';
import { call, type RunningServer } from '../test/support/server';

export interface BenchUser {
  id: string;
  username: string;
  password: string;
  secret: string;
}

function expectStatus(what: string, res: { status: number; body: unknown }, status: number) {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  }
}

export async function adminToken(server: RunningServer): Promise<string> {
  const res = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  expectStatus('admin sign-in', res, 200);
  return res.body.token as string;
}

export async function enableBackupCodes(server: RunningServer, admin: string, count = 10): Promise<void> {
  const res = await call(server.url, 'PUT', '/api/admin/policy', {
    token: admin,
    body: { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count, warnWhenRemaining: 3 } },
  });
  expectStatus('policy', res, 200);
}

/** A user whose authenticator app the admin configured now. */
export async function createTotpUser(
  server: RunningServer,
  admin: string,
  username: string,
): Promise<BenchUser> {
  const password = `${username}-password`;
  const created = await call(server.url, 'POST', '/api/admin/users', {
    token: admin,
    body: { username, password },
  });
  expectStatus('create user', created, 201);
  const id = created.body.user.id as string;
  const patched = await call(server.url, 'PATCH', `/api/admin/users/${id}`, {
    token: admin,
    body: { mfa: { type: 'totp' } },
  });
  expectStatus('configure TOTP', patched, 200);
  return { id, username, password, secret: patched.body.totp.secret as string };
}

export async function startMfa(server: RunningServer, user: BenchUser): Promise<string> {
  const res = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: user.username, password: user.password },
  });
  expectStatus('password step', res, 200);
  if (res.body.status !== 'mfa_required') throw new Error(`password step said ${res.body.status}`);
  return res.body.mfaToken as string;
}

/** Password + TOTP; the caller makes sure the user has not used the current time step yet. */
export async function signInWithTotp(server: RunningServer, user: BenchUser): Promise<string> {
  const mfaToken = await startMfa(server, user);
  const res = await call(server.url, 'POST', '/api/auth/mfa', {
    body: { mfaToken, method: 'totp', code: currentTotp(user.secret, Date.now()) },
  });
  expectStatus('TOTP step', res, 200);
  return res.body.token as string;
}

export async function generateCodes(
  server: RunningServer,
  user: BenchUser,
  session: string,
): Promise<string[]> {
  const res = await call(server.url, 'POST', '/api/me/backup-codes', {
    token: session,
    body: { password: user.password },
  });
  expectStatus('generate codes', res, 201);
  return (res.body.codes as { code: string }[]).map((c) => c.code);
}

/** Runs `work` over `items` with at most `limit` at once. */
export async function eachLimit<T>(
  items: T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
