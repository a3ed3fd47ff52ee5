/**
 * An application's tokens do not outlive a change of their user's credentials or the account: after a
 * password change (web or API) or reset, an MFA reset or a new authenticator (API or `npm run admin`),
 * and a deletion, the refresh token is refused (openid-client's refresh grant) and the access token
 * too (userinfo). Real server, real relying party.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../support/cli';
import { HttpBrowser } from '../support/http-browser';
import { type Alice, adminToken, freshTotp, PASSWORD, registerApp, setUpAlice } from '../support/oidc-users';
import { type RelyingParty, type SignedIn, startRelyingParty } from '../support/relying-party';
import { call, freePort, type RunningServer, startServer } from '../support/server';

const NEW_PASSWORD = 'a-brand-new-password-456';
/** A sign-in that asks for a refresh token (offline_access needs prompt=consent). */
const OFFLINE = '/login?scope=openid%20profile%20offline_access&prompt=consent';

describe("an application's tokens after a change of the account", () => {
  let server: RunningServer;
  let admin: string;
  let rp: RelyingParty;
  let env: Record<string, string>;
  let dataDir: string;

  beforeAll(async () => {
    // One port and data directory: the server is stopped and started again for `npm run admin`.
    env = { PORT: String(await freePort()) };
    dataDir = await mkdtemp(join(tmpdir(), 'sparekey-oidc-revocation-'));
    server = await startServer({ env, dataDir });
    admin = await adminToken(server);
    const policy = {
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 },
    };
    expect((await call(server.url, 'PUT', '/api/admin/policy', { token: admin, body: policy })).status).toBe(
      200,
    );
    rp = await startRelyingParty({ issuer: server.url, name: 'Offline app' });
    await registerApp(server, admin, rp, 'confidential');
  });
  afterAll(async () => {
    await rp?.close();
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A user with a password alone (the policy makes MFA optional): signs in without waiting for a TOTP step. */
  async function plainUser(username: string): Promise<string> {
    const created = await call(server.url, 'POST', '/api/admin/users', {
      token: admin,
      body: { username, password: PASSWORD },
    });
    expect(created.status).toBe(201);
    return created.body.user.id as string;
  }

  /** Signs in at the app with a refresh token; checks both tokens work before the change. */
  async function appTokens(username: string, totpOf?: Alice): Promise<SignedIn & { browser: HttpBrowser }> {
    const browser = new HttpBrowser();
    const login = await browser.navigate(`${rp.url}${OFFLINE}`);
    let page = await browser.submit(login, { username, password: PASSWORD });
    if (totpOf) page = await browser.submit(page, { totp: await freshTotp(totpOf) });
    expect(page.url).toBe(`${rp.url}/`);
    const signedIn = rp.last as SignedIn;
    expect(signedIn.refreshToken).toBeTruthy();
    expect(await userinfo(signedIn.accessToken)).toBe(200);
    return { ...signedIn, browser };
  }

  async function userinfo(accessToken: string): Promise<number> {
    return (await fetch(`${server.url}/oidc/me`, { headers: { authorization: `Bearer ${accessToken}` } }))
      .status;
  }

  async function expectRefused(tokens: SignedIn) {
    expect(await rp.refresh(tokens.refreshToken as string)).toEqual({ error: 'invalid_grant' });
    expect(await userinfo(tokens.accessToken)).toBe(401);
  }

  it('a refresh works while nothing changed (and keeps working)', async () => {
    await plainUser('steady');
    const tokens = await appTokens('steady');
    const refreshed = await rp.refresh(tokens.refreshToken as string);
    expect(refreshed).toHaveProperty('accessToken');
    expect(await userinfo((refreshed as { accessToken: string }).accessToken)).toBe(200);
  });

  it('the user changes the password on the web page: the tokens stop', async () => {
    await plainUser('web-changer');
    const tokens = await appTokens('web-changer');
    const form = await tokens.browser.navigate(`${server.url}/account/password`);
    const changed = await tokens.browser.submit(form, {
      current_password: PASSWORD,
      new_password: NEW_PASSWORD,
      confirm_password: NEW_PASSWORD,
    });
    expect(new URL(changed.url).pathname).toBe('/account');
    await expectRefused(tokens);
  });

  it('the user changes the password through the API: the tokens stop', async () => {
    await plainUser('api-changer');
    const tokens = await appTokens('api-changer');
    const session = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'api-changer', password: PASSWORD },
    });
    const changed = await call(server.url, 'POST', '/api/me/password', {
      token: session.body.token,
      body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(changed.status).toBe(200);
    await expectRefused(tokens);
  });

  it('an admin resets the password: the tokens stop', async () => {
    const id = await plainUser('reset-pw');
    const tokens = await appTokens('reset-pw');
    const reset = await call(server.url, 'POST', `/api/admin/users/${id}/password`, {
      token: admin,
      body: {},
    });
    expect(reset.status).toBe(200);
    await expectRefused(tokens);
  });

  it('an admin resets the MFA, or sets a new authenticator: the tokens stop', async () => {
    for (const [username, mfa] of [
      ['reset-mfa', { type: 'none' }],
      ['new-totp', { type: 'totp' }],
    ] as const) {
      const user = await setUpAlice(server, admin, username);
      const tokens = await appTokens(username, user);
      const patched = await call(server.url, 'PATCH', `/api/admin/users/${user.id}`, {
        token: admin,
        body: { mfa },
      });
      expect(patched.status).toBe(200);
      await expectRefused(tokens);
    }
  });

  it('refreshes racing a reset: no access token they got outlives it', async () => {
    const id = await plainUser('racer');
    const tokens = await appTokens('racer');
    const [reset, ...refreshes] = await Promise.all([
      call(server.url, 'POST', `/api/admin/users/${id}/password`, { token: admin, body: {} }),
      ...Array.from({ length: 10 }, () => rp.refresh(tokens.refreshToken as string)),
    ]);
    expect(reset?.status).toBe(200);
    for (const refreshed of refreshes) {
      // Before the reset a refresh may still have answered; what it gave stops with the rest.
      if ('accessToken' in refreshed) expect(await userinfo(refreshed.accessToken)).toBe(401);
      else expect(refreshed).toEqual({ error: 'invalid_grant' });
    }
    await expectRefused(tokens);
  });

  it('an admin deletes the account: the tokens stop', async () => {
    const id = await plainUser('leaver');
    const tokens = await appTokens('leaver');
    expect((await call(server.url, 'DELETE', `/api/admin/users/${id}`, { token: admin })).status).toBe(204);
    await expectRefused(tokens);
  });

  it('npm run admin -- set-password and reset-mfa (the server stopped): the tokens stop', async () => {
    await plainUser('cli-pw');
    const mfaUser = await setUpAlice(server, admin, 'cli-mfa');
    const password = await appTokens('cli-pw');
    const mfa = await appTokens('cli-mfa', mfaUser);

    await server.stop({ keepData: true });
    const setPassword = await runAdmin(dataDir, ['set-password', 'cli-pw', '--yes'], {
      input: `${NEW_PASSWORD}\n`,
    });
    expect(setPassword.code, setPassword.stderr).toBe(0);
    const resetMfa = await runAdmin(dataDir, ['reset-mfa', 'cli-mfa', '--yes']);
    expect(resetMfa.code, resetMfa.stderr).toBe(0);
    server = await startServer({ env, dataDir });

    await expectRefused(password);
    await expectRefused(mfa);
  });
});
