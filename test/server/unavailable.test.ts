/**
 * A store that cannot be reached (the PostgreSQL store throws StoreUnavailableError) answers 503 with
 * Retry-After in the API's error shape, a page for a browser, and a failing /healthz, never a 500.
 * The real database going down under the real server is test/postgres/outage.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../server/store/types';
import { buildTestApp, type TestApp } from '../support/fakes';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

/** The app's store, failing every call while `down()` says so, as a stopped database would. */
async function appWithFlakyStore(down: () => boolean) {
  t = await buildTestApp();
  const real = t.deps.store;
  t.deps.store = new Proxy(real, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        down()
          ? Promise.reject(new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:5432'))
          : value.apply(target, args);
    },
  });
  return t;
}

describe('the store out of reach', () => {
  it('answers 503 with Retry-After and the error shape, then serves again when it is back', async () => {
    let down = true;
    const { app } = await appWithFlakyStore(() => down);
    const login = () =>
      app.request('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: 'whatever-password' }),
      });
    const refused = await login();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    const body = await refused.json();
    expect(body).toEqual({ error: { code: 'unavailable', message: expect.stringMatching(/database/) } });
    expect(JSON.stringify(body)).not.toContain('ECONNREFUSED');

    const health = await app.request('/healthz');
    expect(health.status).toBe(503);
    expect((await health.json()).error.code).toBe('unavailable');

    down = false;
    expect((await login()).status).toBe(401);
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('shows a browser a page with 503, not a 500', async () => {
    const { app } = await appWithFlakyStore(() => true);
    const page = await app.request('/account', {
      headers: { accept: 'text/html', cookie: 'sparekey_session=abcdefabcdefabcdefabcdefabcdefabcdef' },
    });
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBe('5');
    expect(await page.text()).toContain('cannot reach its database');
  });
});
