/** Session lifetime and what a session must have passed, through the real app on a fake clock. */
import { afterEach, describe, expect, it } from 'vitest';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

let t: TestApp;
const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => t.app.fetch(req), method, path, options);

afterEach(async () => {
  await t.close();
});

async function signIn(username: string, password: string) {
  const res = await api('POST', '/api/auth/login', { body: { username, password } });
  expect(res.body.status).toBe('ok');
  return res.body.token as string;
}

describe('idle timeout', () => {
  it('activity every 15 s keeps a session with a 1-minute idle time alive', async () => {
    t = await buildTestApp({ sessionIdleMs: 60_000 });
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const token = await signIn('bob', 'bob-password');
    for (let elapsed = 15_000; elapsed <= 5 * 60_000; elapsed += 15_000) {
      t.clock.advance(15_000);
      const res = await api('GET', '/api/me', { token });
      expect(res.status, `after ${elapsed / 1000} s of activity every 15 s`).toBe(200);
    }
    // Then a full idle minute ends it.
    t.clock.advance(60_000);
    expect((await api('GET', '/api/me', { token })).status).toBe(401);
  });

  it('still ends the session once the idle time passes without activity', async () => {
    t = await buildTestApp({ sessionIdleMs: 60_000 });
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const token = await signIn('bob', 'bob-password');
    t.clock.advance(59_000);
    expect((await api('GET', '/api/me', { token })).status).toBe(200);
    t.clock.advance(59_999);
    expect((await api('GET', '/api/me', { token })).status).toBe(200);
    t.clock.advance(60_000);
    expect((await api('GET', '/api/me', { token })).status).toBe(401);
  });
});
