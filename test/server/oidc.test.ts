/**
 * SpareKey as an OpenID Connect provider, over HTTP against the real server, with a real relying
 * party (openid-client) on another loopback port: the sign-in through /login with MFA, the claims,
 * and the refusals a provider must make.
 */
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('OpenID Connect provider', () => {
  let server: RunningServer;
  let admin: string;
  let alice: Alice;
  let rp: RelyingParty;

  beforeAll(async () => {
    server = await startServer();
    admin = await adminToken(server);
    alice = await setUpAlice(server, admin);
    rp = await startRelyingParty({ issuer: server.url, name: 'Grafana-like' });
    await registerApp(server, admin, rp, 'confidential');
  });
  afterAll(async () => {
    await rp?.close();
    await server?.stop();
  });

  it('publishes metadata that openid-client accepts: code flow only, S256, RS256', async () => {
    const config = await oidc.discovery(new URL(server.url), 'any', undefined, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(server.url);
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['RS256']);
    expect(metadata.end_session_endpoint).toBe(`${server.url}/oidc/session/end`);
    expect(metadata.revocation_endpoint).toBe(`${server.url}/oidc/token/revocation`);
    const jwks = await (await fetch(metadata.jwks_uri as string)).json();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('signs alice in at the app through /login with her authenticator, then without a prompt (SSO)', async () => {
    const browser = new HttpBrowser();
    const login = await startAtApp(browser, rp);
    const mfa = await browser.submit(login, { username: 'alice', password: PASSWORD });
    expect(new URL(mfa.url).pathname).toBe('/login/mfa');
    const back = await browser.submit(mfa, { totp: await freshTotp(alice) });
    expect(back.url).toBe(`${rp.url}/`);
    expect(back.body).toContain('Signed in as <strong>alice</strong>');
    const claims = rp.last?.claims ?? {};
    expect(claims.sub).toBe(alice.id);
    expect(claims.iss).toBe(server.url);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('urn:sparekey:acr:mfa');
    expect(claims).not.toHaveProperty('sparekey_backup_code');
    expect(rp.last?.userinfo).toMatchObject({ sub: alice.id, preferred_username: 'alice' });

    // The same browser signs in again without any SpareKey page asking for anything.
    const again = await browser.navigate(`${rp.url}/login`);
    expect(again.url).toBe(`${rp.url}/`);
    expect(browser.hops.some((hop) => hop.url.startsWith(`${server.url}/login`))).toBe(false);
    expect(browser.hops.some((hop) => hop.url.startsWith(`${server.url}/interaction/`))).toBe(true);

    const events = await call(server.url, 'GET', '/api/admin/audit?type=application_sign_in', {
      token: admin,
    });
    expect(events.body.events.length).toBeGreaterThanOrEqual(2);
    expect(events.body.events[0].details).toMatchObject({ name: 'Test app', method: 'totp' });
  });

  it('says when a backup code was used, and how many are left', async () => {
    const browser = new HttpBrowser();
    const login = await startAtApp(browser, rp);
    await browser.submit(login, { username: 'alice', password: PASSWORD });
    const backupForm = await browser.navigate(`${server.url}/login/mfa?method=backup_code`);
    const back = await browser.submit(backupForm, { backup_code: alice.codes[0] as string });
    expect(back.url).toBe(`${rp.url}/`);
    expect(back.body).toContain('A backup code was used: 3 of 4 left');
    expect(rp.last?.claims.sparekey_backup_code).toEqual({ used: true, remaining: 3, total: 4 });
    expect(rp.last?.userinfo.sparekey_backup_code).toEqual({ used: true, remaining: 3, total: 4 });
  });

  it('RP-initiated logout ends the SpareKey session, on the server and in the browser', async () => {
    const browser = new HttpBrowser();
    const login = await startAtApp(browser, rp);
    await browser.submit(login, { username: 'alice', password: PASSWORD });
    const backupForm = await browser.navigate(`${server.url}/login/mfa?method=backup_code`);
    expect((await browser.submit(backupForm, { backup_code: alice.codes[1] as string })).url).toBe(
      `${rp.url}/`,
    );
    const session = browser.cookies.find((cookie) => cookie.name === 'sparekey_session')?.value;
    expect(session).toBeTruthy();

    // The app sends the browser to the end-session endpoint; SpareKey asks before signing out.
    const ask = await browser.navigate(`${rp.url}/logout`);
    expect(ask.body).toContain('Sign out of SpareKey?');
    // The confirmation redirects to the app: the page's form-action must let that redirect through.
    // (Asked once more to read the header; the newest page's xsrf is the one that counts.)
    const again = await fetch(ask.url, { headers: { cookie: browser.cookieHeader(new URL(ask.url)) } });
    expect(again.headers.get('content-security-policy')).toContain(`form-action 'self' ${rp.url};`);
    const page = await again.text();
    const xsrf = page.match(/name="xsrf" value="([^"]+)"/)?.[1] ?? '';
    const action = page.match(/<form id="op.logoutForm" method="post" action="([^"]+)"/)?.[1] ?? '';
    const done = await browser.navigate(action, { form: { xsrf, logout: 'yes' } });
    expect(done.url).toBe(rp.postLogoutRedirectUri);

    // The cookie is gone from the browser, and the session from the server.
    expect(browser.cookies.some((cookie) => cookie.name === 'sparekey_session')).toBe(false);
    const replay = await fetch(`${server.url}/account`, {
      headers: { cookie: `sparekey_session=${session}` },
      redirect: 'manual',
    });
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe('/login');
    // A second logout finds no provider session: it asks all the same (a page that posted itself on
    // would let any site sign the browser out of SpareKey), with a button and no script at all.
    const bare = await browser.navigate(`${rp.url}/logout`);
    expect(bare.body).toContain('Sign out of SpareKey?');
    expect(bare.body).not.toContain('<script');
    const bareAgain = await fetch(bare.url, { headers: { cookie: browser.cookieHeader(new URL(bare.url)) } });
    const csp = bareAgain.headers.get('content-security-policy') ?? '';
    expect(csp).not.toContain('script-src');
    expect(csp).toContain(`form-action 'self' ${rp.url};`);
    const barePage = await bareAgain.text();
    const bareXsrf = barePage.match(/name="xsrf" value="([^"]+)"/)?.[1] ?? '';
    const bareAction = barePage.match(/<form id="op.logoutForm" method="post" action="([^"]+)"/)?.[1] ?? '';
    const back = await browser.navigate(bareAction, { form: { xsrf: bareXsrf, logout: 'yes' } });
    expect(back.url).toBe(rp.postLogoutRedirectUri);

    // So the next sign-in to the app asks for the password again.
    await startAtApp(browser, rp);
  });

  describe('refusals', () => {
    /** One browser with a SpareKey session (password + authenticator), shared: later apps get SSO. */
    let sso: HttpBrowser | null = null;
    // A user of its own: alice's authenticator steps are spent by the tests above.
    let dana: Alice;
    beforeAll(async () => {
      dana = await setUpAlice(server, admin, 'dana');
    });
    async function signedInBrowser(_app: RelyingParty): Promise<HttpBrowser> {
      if (sso) return sso;
      const browser = new HttpBrowser();
      const login = await startAtApp(browser, rp);
      const mfa = await browser.submit(login, { username: 'dana', password: PASSWORD });
      const back = await browser.submit(mfa, { totp: await freshTotp(dana) });
      expect(back.url).toBe(`${rp.url}/`);
      sso = browser;
      return browser;
    }

    /** Runs a sign-in up to the app's callback and returns the code it carries, not exchanged yet. */
    async function codeFor(browser: HttpBrowser, app: RelyingParty): Promise<string> {
      const hop = await browser.navigate(`${app.url}/login`, {
        stopAt: (url) => url.href.startsWith(app.redirectUri),
      });
      const code = new URL(hop.location ?? '').searchParams.get('code');
      expect(code).toBeTruthy();
      return code as string;
    }

    async function exchange(app: RelyingParty, clientId: string, secret: string, code: string) {
      const response = await fetch(`${server.url}/oidc/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: app.redirectUri,
          code_verifier: app.lastVerifier ?? '',
        }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, string> };
    }

    interface OwnApp {
      app: RelyingParty;
      application: { id: string; clientId: string };
      clientSecret: string;
      browser: HttpBrowser;
    }

    /** A confidential application of its own for one test, reached by the signed-in browser; closed after. */
    async function withOwnApp(name: string, test: (own: OwnApp) => Promise<void>): Promise<void> {
      const app = await startRelyingParty({ issuer: server.url, name });
      try {
        const { application, clientSecret } = await registerApp(server, admin, app, 'confidential', name);
        if (!clientSecret) throw new Error('a confidential application gets a secret');
        await test({ app, application, clientSecret, browser: await signedInBrowser(app) });
      } finally {
        await app.close();
      }
    }

    async function userinfo(accessToken: string) {
      return (await fetch(`${server.url}/oidc/me`, { headers: { authorization: `Bearer ${accessToken}` } }))
        .status;
    }

    it('shows an error page and redirects nowhere for an unregistered or mismatched redirect URI', async () => {
      const clientId = (await call(server.url, 'GET', '/api/admin/applications', { token: admin })).body
        .applications[0].clientId as string;
      for (const redirectUri of [
        'https://evil.example/callback',
        `${rp.redirectUri}/other`,
        `${rp.redirectUri}?x=1`,
      ]) {
        const params = new URLSearchParams({
          client_id: clientId,
          redirect_uri: redirectUri,
          response_type: 'code',
          scope: 'openid',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        });
        const hop = await new HttpBrowser().request(`${server.url}/oidc/auth?${params}`);
        expect(hop.status).toBe(400);
        expect(hop.location).toBeNull();
        expect(hop.body).toContain('This sign-in request was refused');
        expect(hop.body).toContain('redirect_uri');
      }
    });

    // A confidential client's secret does not stand in for PKCE: both kinds must send a challenge.
    it.each([
      ['public', 'Public without PKCE'],
      ['confidential', 'Confidential without PKCE'],
    ] as const)('refuses a %s client that sends no PKCE challenge', async (type, name) => {
      const app = await startRelyingParty({ issuer: server.url, name: 'No PKCE', withoutPkce: true });
      try {
        await registerApp(server, admin, app, type, name);
        const browser = new HttpBrowser();
        const page = await browser.navigate(`${app.url}/login`);
        // Back at the app with an error and no code: SpareKey never showed a sign-in page.
        expect(browser.hops.some((hop) => hop.url.startsWith(`${server.url}/login`))).toBe(false);
        expect(page.status).toBe(400);
        expect(app.last).toBeNull();
        expect(app.lastError).toMatch(/code_challenge|PKCE/i);
      } finally {
        await app.close();
      }
    });

    it('refuses a code used twice and revokes the tokens its first use gave', async () => {
      await withOwnApp('Replay', async ({ app, application, clientSecret, browser }) => {
        const code = await codeFor(browser, app);
        const first = await exchange(app, application.clientId, clientSecret, code);
        expect(first.status).toBe(200);
        expect(await userinfo(first.body.access_token as string)).toBe(200);
        const second = await exchange(app, application.clientId, clientSecret, code);
        expect(second.status).toBe(400);
        expect(second.body.error).toBe('invalid_grant');
        expect(second.body).not.toHaveProperty('access_token');
        expect(await userinfo(first.body.access_token as string)).toBe(401);
      });
    });

    it('refuses a wrong client secret, and the old secret once rotated', async () => {
      await withOwnApp('Secrets', async ({ app, application, clientSecret, browser }) => {
        const wrong = await exchange(
          app,
          application.clientId,
          `${clientSecret}x`,
          await codeFor(browser, app),
        );
        expect(wrong.status).toBe(401);
        expect(wrong.body.error).toBe('invalid_client');

        const rotated = await call(server.url, 'POST', `/api/admin/applications/${application.id}/secret`, {
          token: admin,
        });
        expect(rotated.status).toBe(200);
        const old = await exchange(app, application.clientId, clientSecret, await codeFor(browser, app));
        expect(old.status).toBe(401);
        const fresh = await exchange(
          app,
          application.clientId,
          rotated.body.clientSecret,
          await codeFor(browser, app),
        );
        expect(fresh.status).toBe(200);
      });
    });

    it("stops a deleted application's tokens", async () => {
      await withOwnApp('Deleted', async ({ app, application, clientSecret, browser }) => {
        const tokens = await exchange(app, application.clientId, clientSecret, await codeFor(browser, app));
        expect(await userinfo(tokens.body.access_token as string)).toBe(200);
        // A code handed out before the deletion and not exchanged yet.
        const pending = await codeFor(browser, app);
        const deleted = await call(server.url, 'DELETE', `/api/admin/applications/${application.id}`, {
          token: admin,
        });
        expect(deleted.status).toBe(204);
        expect(await userinfo(tokens.body.access_token as string)).toBe(401);
        const late = await exchange(app, application.clientId, clientSecret, pending);
        expect(late.status).toBe(401);
        expect(late.body.error).toBe('invalid_client');
        expect(late.body).not.toHaveProperty('access_token');
        // And a new sign-in to it is refused at once.
        const hop = await browser.navigate(`${app.url}/login`);
        expect(hop.status).toBe(400);
        expect(hop.body).toContain('This sign-in request was refused');
      });
    });

    it('answers response_mode=form_post with a page whose script and form the page policy let through to the application', async () => {
      await withOwnApp('Form post', async ({ app, application, clientSecret, browser }) => {
        const discovery = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
        expect(discovery.response_modes_supported).toContain('form_post');
        const params = new URLSearchParams({
          client_id: application.clientId,
          redirect_uri: app.redirectUri,
          response_type: 'code',
          response_mode: 'form_post',
          scope: 'openid',
          state: 'form-post-state',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        });
        const page = await browser.navigate(`${server.url}/oidc/auth?${params}`);
        expect(page.status).toBe(200);
        expect(page.body).toContain(`<form method="post" action="${app.redirectUri}">`);
        expect(page.body).toContain('name="state" value="form-post-state"');
        const code = page.body.match(/name="code" value="([^"]+)"/)?.[1] ?? '';
        // The one inline script (which posts the form) is allowed by its hash and no other; the form
        // may post to the application's origin and nowhere else.
        const script = page.body.match(/<script>([\s\S]*?)<\/script>/)?.[1] ?? '';
        expect(script).toContain('submit()');
        const hash = createHash('sha256').update(script).digest('base64');
        expect(page.csp).toMatch(new RegExp(`script-src 'sha256-${hash.replace(/[+/]/g, '\\$&')}'$`));
        expect(page.csp).toContain(`form-action 'self' ${app.url};`);
        // What the form posts is a code the application can exchange.
        const verifierApp = { ...app, lastVerifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' };
        const tokens = await exchange(verifierApp, application.clientId, clientSecret, code);
        expect(tokens.status).toBe(200);
        expect(tokens.body.id_token).toBeTruthy();
      });
    });

    it('gives no code to a user locked out by failed MFA attempts', async () => {
      const bob = await setUpAlice(server, admin, 'bob');
      const browser = new HttpBrowser();
      const login = await startAtApp(browser, rp);
      let mfa = await browser.submit(login, { username: 'bob', password: PASSWORD });
      for (let i = 0; i < 5; i++) mfa = await browser.submit(mfa, { totp: '000000' });
      expect(mfa.status).toBe(429);
      const right = await browser.submit(mfa, { totp: await freshTotp(bob) });
      expect(right.status).toBe(429);
      expect(browser.hops.some((hop) => hop.url.startsWith(rp.url))).toBe(false);
    });
  });
});
