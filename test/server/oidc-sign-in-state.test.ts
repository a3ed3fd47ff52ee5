/**
 * What the provider makes of SpareKey's sign-in state, over HTTP with a real relying party
 * (openid-client): a forced password change is not skipped by signing in to an application,
 * prompt=login and max_age ask for the password again, auth_time and amr say when and how the user
 * really signed in (a password change keeps them), and the provider's session cookie is never
 * stored in clear.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../server/crypto/tokens';
import { HttpBrowser } from '../support/http-browser';
import {
  type Alice,
  adminToken,
  freshTotp,
  PASSWORD,
  registerApp,
  setUpAlice,
  startAtApp,
} from '../support/oidc-users';
import { type RelyingParty, startRelyingParty } from '../support/relying-party';
import { call, type RunningServer, startServer } from '../support/server';

const NEW_PASSWORD = 'a-brand-new-password-456';

/** Signs `user` in at the app from a fresh browser (password + authenticator); resolves with it. */
async function signedIn(rp: RelyingParty, user: Alice, username: string): Promise<HttpBrowser> {
  const browser = new HttpBrowser();
  const login = await startAtApp(browser, rp);
  const mfa = await browser.submit(login, { username, password: PASSWORD });
  const back = await browser.submit(mfa, { totp: await freshTotp(user) });
  expect(back.url).toBe(`${rp.url}/`);
  return browser;
}

/** The claims of the app's last sign-in (read through a call: the tests reset rp.last). */
const claims = (rp: RelyingParty) => rp.last?.claims ?? {};
const authTime = (rp: RelyingParty) => claims(rp).auth_time as number;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** auth_time is in seconds: a wait past the next second tells a fresh sign-in from a reused one. */
const nextSecond = () => pause(1100);

/** Every file under `dir`, as text. */
async function filesUnder(dir: string): Promise<{ path: string; text: string }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map(async (entry) => {
        const path = join(entry.parentPath, entry.name);
        return { path, text: await readFile(path, 'utf8') };
      }),
  );
}

describe('OpenID Connect and the sign-in state', () => {
  let server: RunningServer;
  let admin: string;
  let rp: RelyingParty;

  beforeAll(async () => {
    server = await startServer();
    admin = await adminToken(server);
    rp = await startRelyingParty({ issuer: server.url, name: 'Sign-in state' });
    await registerApp(server, admin, rp, 'confidential');
  });
  afterAll(async () => {
    await rp?.close();
    await server?.stop();
  });

  it('gives no ID token to a user with a reset password until it is changed, then completes the sign-in', async () => {
    const frank = await setUpAlice(server, admin, 'frank');
    const temporary = 'temporary-password-789';
    const reset = await call(server.url, 'POST', `/api/admin/users/${frank.id}/password`, {
      token: admin,
      body: { password: temporary },
    });
    expect(reset.status).toBe(200);
    rp.last = null;

    const browser = new HttpBrowser();
    const login = await startAtApp(browser, rp);
    const mfa = await browser.submit(login, { username: 'frank', password: temporary });
    const change = await browser.submit(mfa, { totp: await freshTotp(frank) });
    expect(new URL(change.url).pathname).toBe('/account/password');
    expect(change.body).toContain('choose your own to continue');
    // Asking the app again changes nothing: the change comes first, and no code reached the app.
    const again = await browser.navigate(`${rp.url}/login`);
    expect(new URL(again.url).pathname).toBe('/account/password');
    expect(browser.hops.some((hop) => hop.url.startsWith(rp.redirectUri))).toBe(false);
    expect(rp.last).toBeNull();

    const back = await browser.submit(again, {
      current_password: temporary,
      new_password: NEW_PASSWORD,
      confirm_password: NEW_PASSWORD,
    });
    // The sign-in the application asked for goes on where it was.
    expect(back.url).toBe(`${rp.url}/`);
    expect(claims(rp).sub).toBe(frank.id);
    expect(claims(rp).amr).toEqual(['pwd', 'otp', 'mfa']);
    const users = await call(server.url, 'GET', '/api/admin/users', { token: admin });
    const listed = users.body.users.find((user: { id: string }) => user.id === frank.id);
    expect(listed.mustChangePassword).toBe(false);
  });

  describe('re-authentication and the claims', () => {
    let alice: Alice;
    beforeAll(async () => {
      alice = await setUpAlice(server, admin, 'alice');
    });

    it('prompt=login asks for the password and the MFA step again; auth_time is the fresh sign-in', async () => {
      const browser = await signedIn(rp, alice, 'alice');
      const first = authTime(rp);
      await nextSecond();

      const login = await browser.navigate(`${rp.url}/login?prompt=login`);
      expect(new URL(login.url).pathname).toBe('/login');
      expect(login.body).toContain('name="password"');
      expect(login.body).toContain('The application asks you to sign in again.');
      expect(browser.hops.some((hop) => hop.url.startsWith(rp.redirectUri))).toBe(false);

      const mfa = await browser.submit(login, { username: 'alice', password: PASSWORD });
      expect(new URL(mfa.url).pathname).toBe('/login/mfa');
      const back = await browser.submit(mfa, { totp: await freshTotp(alice) });
      expect(back.url).toBe(`${rp.url}/`);
      expect(authTime(rp)).toBeGreaterThan(first);
      expect(claims(rp).amr).toEqual(['pwd', 'otp', 'mfa']);
    });

    it('max_age: an older sign-in asks for the password again; a recent enough one is reused as it was', async () => {
      // A user of its own: each sign-in needs an authenticator step not used yet.
      const max = await setUpAlice(server, admin, 'max');
      const browser = await signedIn(rp, max, 'max');
      const first = authTime(rp);
      await pause(2100);

      const sso = await browser.navigate(`${rp.url}/login?max_age=3600`);
      expect(sso.url).toBe(`${rp.url}/`);
      expect(authTime(rp)).toBe(first);

      const login = await browser.navigate(`${rp.url}/login?max_age=1`);
      expect(new URL(login.url).pathname).toBe('/login');
      expect(login.body).toContain('name="password"');
      const mfa = await browser.submit(login, { username: 'max', password: PASSWORD });
      const back = await browser.submit(mfa, { totp: await freshTotp(max) });
      expect(back.url).toBe(`${rp.url}/`);
      expect(authTime(rp)).toBeGreaterThan(first);
    });

    it('a web password change keeps auth_time and amr of the sign-in the session rode on', async () => {
      const bea = await setUpAlice(server, admin, 'bea');
      const browser = await signedIn(rp, bea, 'bea');
      const first = authTime(rp);
      await nextSecond();

      // An application's request left waiting at the sign-in form does not hijack a password change
      // the user chose to make: that one ends at the account page, as always.
      const abandoned = await browser.navigate(`${rp.url}/login?prompt=login`);
      expect(new URL(abandoned.url).pathname).toBe('/login');
      const form = await browser.navigate(`${server.url}/account/password`);
      const changed = await browser.submit(form, {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
        confirm_password: NEW_PASSWORD,
      });
      expect(changed.url).toBe(`${server.url}/account?notice=password_changed`);

      const sso = await browser.navigate(`${rp.url}/login`);
      expect(sso.url, `${sso.status} ${sso.body}`).toBe(`${rp.url}/`);
      expect(claims(rp).sub).toBe(bea.id);
      expect(authTime(rp)).toBe(first);
      expect(claims(rp).amr).toEqual(['pwd', 'otp', 'mfa']);
      expect(claims(rp).acr).toBe('urn:sparekey:acr:mfa');
    });

    it('a session with no record of its sign-in is not taken at its word: the password again', async () => {
      const cleo = await setUpAlice(server, admin, 'cleo');
      const browser = await signedIn(rp, cleo, 'cleo');
      const session = browser.cookies.find((cookie) => cookie.name === 'sparekey_session')?.value ?? '';
      expect(session).not.toBe('');
      // The record of how the session signed in is lost (as for a session from before it existed).
      const name = createHash('sha256')
        .update(`SparekeyWebSignIn:${hashToken(session)}`)
        .digest('hex');
      await rm(join(server.dataDir, 'oidc', 'records', `${name}.json`));

      const login = await browser.navigate(`${rp.url}/login`);
      expect(new URL(login.url).pathname).toBe('/login');
      expect(login.body).toContain('name="password"');
      const mfa = await browser.submit(login, { username: 'cleo', password: PASSWORD });
      const back = await browser.submit(mfa, { totp: await freshTotp(cleo) });
      expect(back.url).toBe(`${rp.url}/`);
      expect(claims(rp).amr).toEqual(['pwd', 'otp', 'mfa']);
    });
  });

  it("stores no provider session cookie's value, after a sign-in and a single sign-on", async () => {
    const dora = await setUpAlice(server, admin, 'dora');
    const browser = await signedIn(rp, dora, 'dora');
    // The second authorization runs with a provider session: its interaction, stored until the
    // sign-in resumes (or expires, when the user walks away), knows that session. Looked at then.
    const waiting = await browser.navigate(`${rp.url}/login`, {
      stopAt: (url) => url.pathname.endsWith('/resume'),
    });
    expect(new URL(waiting.url).pathname).toMatch(/^\/interaction\/[^/]+$/);
    const cookies = browser.cookies.filter((cookie) => cookie.name.startsWith('_session'));
    expect(cookies.map((cookie) => cookie.name)).toContain('_session');
    const files = await filesUnder(server.dataDir);
    expect(files.some((file) => file.text.includes('"Interaction"'))).toBe(true);
    for (const cookie of cookies) {
      expect(cookie.value.length).toBeGreaterThan(10);
      expect(files.filter((file) => file.text.includes(cookie.value)).map((file) => file.path)).toEqual([]);
    }
  });
});
