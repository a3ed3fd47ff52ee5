/**
 * A damaged user file never takes its account hostage, nor the server: each kind of damage is
 * detected, that account answers 503 account_damaged, everyone else signs in, the admin sees it in
 * the user list and /healthz, and DELETE frees the name. The app runs in process on a real store
 * that is closed, damaged on disk and opened again, as a restart would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app';
import { defaultSecurityConfig } from '../../server/config';
import type { Deps } from '../../server/deps';
import { newUserRecord } from '../../server/services/users';
import { LowdbStore } from '../../server/store/lowdb';
import { FakeClock, fastHasher } from '../support/fakes';
import { call } from '../support/server';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openApp(dataDir: string) {
  const store = new LowdbStore(dataDir, { verifyUsersOnOpen: true });
  await store.open();
  const deps: Deps = {
    store,
    hasher: fastHasher().hasher,
    clock: new FakeClock(),
    security: defaultSecurityConfig(),
  };
  const app = createApp(deps);
  const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
    call((request) => app.fetch(request), method, path, options);
  const close = () => store.close();
  cleanups.push(close);
  return { store, deps, api, close };
}

async function signIn(api: Awaited<ReturnType<typeof openApp>>['api'], username: string) {
  return api('POST', '/api/auth/login', { body: { username, password: `${username}-password` } });
}

/** A store with admin, bob and carol; bob holds a session from before the damage. */
async function prepare() {
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-damage-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const first = await openApp(dataDir);
  const ids: Record<string, string> = {};
  for (const [username, role] of [
    ['admin', 'admin'],
    ['bob', 'user'],
    ['carol', 'user'],
  ] as const) {
    const user = await newUserRecord(first.deps, username, `${username}-password`, role);
    await first.store.createUser(user);
    ids[username] = user.id;
  }
  const bobSession = (await signIn(first.api, 'bob')).body.token as string;
  expect(bobSession).toBeTruthy();
  await first.close();
  return { dataDir, ids, bobSession, bobFile: join(dataDir, 'users', `${ids.bob}.json`) };
}

const DAMAGE: Record<string, { damage: (path: string) => Promise<void>; reason: RegExp }> = {
  truncated: {
    damage: async (path) => writeFile(path, (await readFile(path)).subarray(0, 100)),
    reason: /checksum mismatch/,
  },
  'zero-length': { damage: (path) => writeFile(path, ''), reason: /empty \(zero bytes\)/ },
  garbage: { damage: (path) => writeFile(path, randomBytes(300)), reason: /not valid JSON|checksum/ },
  'flipped byte': {
    damage: async (path) => {
      const bytes = await readFile(path);
      const at = bytes.indexOf('fake$') + 8;
      bytes[at] = (bytes[at] as number) ^ 0x01;
      // Still valid JSON of the right shape: only the checksum can tell.
      JSON.parse(bytes.toString('utf8'));
      await writeFile(path, bytes);
    },
    reason: /checksum mismatch/,
  },
  missing: { damage: (path) => unlink(path), reason: /the file is missing/ },
};

describe('a damaged user file', () => {
  for (const [kind, { damage, reason }] of Object.entries(DAMAGE)) {
    it(`(${kind}) answers 503 for that account only; the admin sees it and can delete it`, async () => {
      const { dataDir, ids, bobSession, bobFile } = await prepare();
      await damage(bobFile);
      const { api, store } = await openApp(dataDir);
      // The background check after open finds it before anyone signs in.
      await expect
        .poll(async () => (await api('GET', '/healthz')).body)
        .toEqual({
          status: 'degraded',
          damagedAccounts: 1,
        });

      const bob = await signIn(api, 'bob');
      expect(bob.status).toBe(503);
      expect(bob.body.error.code).toBe('account_damaged');
      expect(bob.body.error.message).toMatch(/damaged.*administrator/);
      const me = await api('GET', '/api/me', { token: bobSession });
      expect(me.status).toBe(503);
      expect(me.body.error.code).toBe('account_damaged');

      expect((await signIn(api, 'carol')).body.status).toBe('ok');
      const admin = (await signIn(api, 'admin')).body.token as string;
      const list = await api('GET', '/api/admin/users', { token: admin });
      expect(list.status).toBe(200);
      expect(list.body.users.map((user: { username: string }) => user.username)).toEqual(['admin', 'carol']);
      expect(list.body.damaged).toEqual([
        { id: ids.bob, username: 'bob', role: 'user', reason: expect.stringMatching(reason) },
      ]);

      const patch = await api('PATCH', `/api/admin/users/${ids.bob}`, {
        token: admin,
        body: { role: 'admin' },
      });
      expect(patch.status).toBe(503);
      // The name stays taken until the damaged account is deleted.
      const again = { username: 'bob', password: 'bob-password-2' };
      expect((await api('POST', '/api/admin/users', { token: admin, body: again })).status).toBe(409);

      expect((await api('DELETE', `/api/admin/users/${ids.bob}`, { token: admin })).status).toBe(204);
      expect((await api('GET', '/healthz')).body).toEqual({ status: 'ok' });
      expect((await api('GET', '/api/admin/users', { token: admin })).body.damaged).toEqual([]);
      const audit = await api('GET', `/api/admin/audit?type=user_deleted`, { token: admin });
      expect(audit.body.events[0].subject).toEqual({ id: ids.bob, username: 'bob' });
      expect((await api('POST', '/api/admin/users', { token: admin, body: again })).status).toBe(201);
      expect(await store.countUsers()).toBe(3);
    });
  }

  it('never answers 500 on the web sign-in either: the page says the account is damaged', async () => {
    const { dataDir, bobFile } = await prepare();
    await writeFile(bobFile, '{"sum":"0000000000000000","id":"x"}');
    const { deps } = await openApp(dataDir);
    const app = createApp(deps);
    const origin = 'http://localhost';
    const page = await app.request(`${origin}/login`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
    const cookie = page.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .join('; ');
    const response = await app.request(`${origin}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin },
      body: new URLSearchParams({ csrf, username: 'bob', password: 'bob-password' }).toString(),
    });
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('stored record is damaged');
  });
});
