/**
 * The provider on PostgreSQL: no row holds a live provider session cookie (the Interaction's copy is
 * left out before the store sees it), and an admin's password reset stops the user's application
 * tokens, as on lowdb (test/server/oidc-sign-in-state.test.ts, oidc-revocation.test.ts).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpBrowser } from '../support/http-browser';
import { adminToken, freshTotp, PASSWORD, registerApp, setUpAlice, startAtApp } from '../support/oidc-users';
import { type RelyingParty, type SignedIn, startRelyingParty } from '../support/relying-party';
import { call, type RunningServer, startServer } from '../support/server';
import { createDatabase } from './databases';
import { postgresEnv } from './servers';

describe('the provider on PostgreSQL and the sign-in state', () => {
  let databaseUrl: string;
  let server: RunningServer;
  let admin: string;
  let rp: RelyingParty;

  beforeAll(async () => {
    databaseUrl = await createDatabase('oidc_state');
    server = await startServer({ env: postgresEnv(databaseUrl) });
    admin = await adminToken(server);
    rp = await startRelyingParty({ issuer: server.url, name: 'On PostgreSQL' });
    await registerApp(server, admin, rp, 'confidential');
  });
  afterAll(async () => {
    await rp?.close();
    await server?.stop();
  });

  async function providerRows(): Promise<{ model: string; text: string }[]> {
    const client = new pg.Client(databaseUrl);
    await client.connect();
    try {
      const { rows } = await client.query<{ model: string; text: string }>(
        'SELECT model, payload::text AS text FROM oidc_records',
      );
      return rows;
    } finally {
      await client.end();
    }
  }

  it("no row holds the provider session cookie's value; a password reset stops the app's tokens", async () => {
    const alice = await setUpAlice(server, admin, 'alice');
    const browser = new HttpBrowser();
    const login = await browser.navigate(
      `${rp.url}/login?scope=openid%20profile%20offline_access&prompt=consent`,
    );
    const mfa = await browser.submit(login, { username: 'alice', password: PASSWORD });
    expect((await browser.submit(mfa, { totp: await freshTotp(alice) })).url).toBe(`${rp.url}/`);
    const tokens = rp.last as SignedIn;

    // A second authorization, looked at while its interaction (which knows the session) waits.
    const waiting = await browser.navigate(`${rp.url}/login`, {
      stopAt: (url) => url.pathname.endsWith('/resume'),
    });
    expect(new URL(waiting.url).pathname).toMatch(/^\/interaction\/[^/]+$/);
    const rows = await providerRows();
    expect(rows.some((row) => row.model === 'Interaction' && row.text.includes('"session"'))).toBe(true);
    const cookies = browser.cookies.filter((cookie) => cookie.name.startsWith('_session'));
    expect(cookies.map((cookie) => cookie.name)).toContain('_session');
    for (const cookie of cookies) {
      expect(cookie.value.length).toBeGreaterThan(10);
      expect(rows.filter((row) => row.text.includes(cookie.value)).map((row) => row.model)).toEqual([]);
    }

    expect(await rp.refresh(tokens.refreshToken as string)).toHaveProperty('accessToken');
    const reset = await call(server.url, 'POST', `/api/admin/users/${alice.id}/password`, {
      token: admin,
      body: {},
    });
    expect(reset.status).toBe(200);
    expect(await rp.refresh(tokens.refreshToken as string)).toEqual({ error: 'invalid_grant' });
    const userinfo = await fetch(`${server.url}/oidc/me`, {
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    expect(userinfo.status).toBe(401);
  });

  it('a new sign-in after the reset changes the password first, then reaches the app', async () => {
    const bob = await setUpAlice(server, admin, 'bob');
    const temporary = 'temporary-password-789';
    await call(server.url, 'POST', `/api/admin/users/${bob.id}/password`, {
      token: admin,
      body: { password: temporary },
    });
    rp.last = null;
    const browser = new HttpBrowser();
    const login = await startAtApp(browser, rp);
    const mfa = await browser.submit(login, { username: 'bob', password: temporary });
    const change = await browser.submit(mfa, { totp: await freshTotp(bob) });
    expect(new URL(change.url).pathname).toBe('/account/password');
    expect(rp.last).toBeNull();
    const fresh = 'a-brand-new-password-456';
    const back = await browser.submit(change, {
      current_password: temporary,
      new_password: fresh,
      confirm_password: fresh,
    });
    expect(back.url).toBe(`${rp.url}/`);
  });
});
