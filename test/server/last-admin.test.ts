/**
 * The last-admin guard against the real server over HTTP: two admins demoting (or deleting) each
 * other at the same moment must never leave the server without an administrator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type RunningServer, startServer } from '../support/server';

let server: RunningServer;
let bootstrap: string;
/** The admin left standing by the previous test. */
let standing: { id: string; token: string };
const PASSWORD = 'admin-pair-password';

const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call(server.url, method, path, options);

async function signIn(username: string): Promise<string> {
  const res = await api('POST', '/api/auth/login', { body: { username, password: PASSWORD } });
  expect(res.body.status).toBe('ok');
  return res.body.token;
}

async function newAdmin(creator: string, username: string) {
  const created = await api('POST', '/api/admin/users', {
    token: creator,
    body: { username, password: PASSWORD, role: 'admin' },
  });
  expect(created.status).toBe(201);
  return { id: created.body.user.id as string, token: await signIn(username) };
}

async function adminCount(token: string): Promise<number> {
  const res = await api('GET', '/api/admin/users', { token });
  expect(res.status).toBe(200);
  return res.body.users.filter((u: { role: string }) => u.role === 'admin').length;
}

/** The loser either ran into the guard (409) or arrived after it had lost its admin rights. */
function expectLoser(res: Awaited<ReturnType<typeof api>>) {
  if (res.status === 409) expect(res.body.error.code).toBe('last_admin');
  else expect([401, 403]).toContain(res.status);
}

beforeAll(async () => {
  server = await startServer();
  const res = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  bootstrap = res.body.token;
});
afterAll(async () => {
  await server?.stop();
});

describe('two admins acting on each other at once', () => {
  it('demoting each other: 20 rounds, always exactly one admin left, the loser refused', async () => {
    let a = await newAdmin(bootstrap, 'demote-a');
    let b = await newAdmin(bootstrap, 'demote-b');
    const me = await api('GET', '/api/me', { token: bootstrap });
    expect((await api('DELETE', `/api/admin/users/${me.body.user.id}`, { token: a.token })).status).toBe(204);

    let guarded = 0;
    for (let round = 0; round < 20; round++) {
      const [byA, byB] = await Promise.all([
        api('PATCH', `/api/admin/users/${b.id}`, { token: a.token, body: { role: 'user' } }),
        api('PATCH', `/api/admin/users/${a.id}`, { token: b.token, body: { role: 'user' } }),
      ]);
      const statuses = [byA.status, byB.status];
      expect(
        statuses.filter((s) => s === 200),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      const [winner, loser] = byA.status === 200 ? [a, b] : [b, a];
      expectLoser(byA.status === 200 ? byB : byA);
      if (byA.status === 409 || byB.status === 409) guarded++;
      expect(await adminCount(winner.token)).toBe(1);
      // Back to two admins for the next round.
      const restored = await api('PATCH', `/api/admin/users/${loser.id}`, {
        token: winner.token,
        body: { role: 'admin' },
      });
      expect(restored.status).toBe(200);
      [a, b] = [winner, loser];
    }
    expect((await api('DELETE', `/api/admin/users/${b.id}`, { token: a.token })).status).toBe(204);
    standing = a;
    // The requests did meet: most rounds are decided by the guard, not by arriving late.
    expect(guarded).toBeGreaterThan(0);
  }, 120_000);

  it('deleting each other: 20 rounds, always exactly one admin left, the loser refused', async () => {
    let a = standing;
    for (let round = 0; round < 20; round++) {
      const b = await newAdmin(a.token, `delete-${round}`);
      // Sent in turn first, so neither side always has the head start.
      const aDeletes = () => api('DELETE', `/api/admin/users/${b.id}`, { token: a.token });
      const bDeletes = () => api('DELETE', `/api/admin/users/${a.id}`, { token: b.token });
      const [byA, byB] =
        round % 2 === 0
          ? await Promise.all([aDeletes(), bDeletes()])
          : await Promise.all([bDeletes(), aDeletes()]).then(([fromB, fromA]) => [fromA, fromB] as const);
      const statuses = [byA.status, byB.status];
      expect(
        statuses.filter((s) => s === 204),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      expectLoser(byA.status === 204 ? byB : byA);
      a = byA.status === 204 ? a : b;
      expect(await adminCount(a.token)).toBe(1);
    }
  }, 120_000);
});
