/**
 * The people and applications of the OpenID Connect tests: a user with an authenticator and backup
 * codes, a registered relying party, and the first steps of a sign-in from an application.
 */
import { expect } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import type { Hop, HttpBrowser } from './http-browser';
import type { RelyingParty } from './relying-party';
import { call, type RunningServer } from './server';

export const PASSWORD = 'alice-password-123';

export interface Alice {
  id: string;
  secret: string;
  codes: string[];
  /** The last TOTP time step used: a step works once, so the next code waits for a new one. */
  lastStep: number;
}

const STEP_MS = 30_000;

/**
 * A TOTP code of a step not used yet. The server takes the next step's code too (it allows one step of
 * clock drift), so this waits only when that one is used already.
 */
export async function freshTotp(user: Alice): Promise<string> {
  for (;;) {
    const current = Math.floor(Date.now() / STEP_MS);
    const step = Math.max(current, user.lastStep + 1);
    if (step <= current + 1) {
      user.lastStep = step;
      return currentTotp(user.secret, step * STEP_MS);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function adminToken(server: RunningServer): Promise<string> {
  const res = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  expect(res.body.status).toBe('ok');
  return res.body.token as string;
}

/** alice, with an authenticator and a set of 4 backup codes. */
export async function setUpAlice(server: RunningServer, admin: string, username = 'alice'): Promise<Alice> {
  const policy = {
    mfaUsage: 'optional_per_user',
    backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 },
  };
  expect((await call(server.url, 'PUT', '/api/admin/policy', { token: admin, body: policy })).status).toBe(
    200,
  );
  const created = await call(server.url, 'POST', '/api/admin/users', {
    token: admin,
    body: { username, password: PASSWORD },
  });
  const id = created.body.user.id as string;
  const patched = await call(server.url, 'PATCH', `/api/admin/users/${id}`, {
    token: admin,
    body: { mfa: { type: 'totp' } },
  });
  const secret = patched.body.totp.secret as string;
  const step = await call(server.url, 'POST', '/api/auth/login', { body: { username, password: PASSWORD } });
  // The previous step's code (the server allows one step of drift) leaves this step and the next to
  // the test, two sign-ins without a wait; not within 5 s of the step's end, when it would be too old.
  const now = Date.now();
  const current = Math.floor(now / STEP_MS);
  const lastStep = STEP_MS - (now % STEP_MS) > 5_000 ? current - 1 : current;
  const session = await call(server.url, 'POST', '/api/auth/mfa', {
    body: { mfaToken: step.body.mfaToken, method: 'totp', code: currentTotp(secret, lastStep * STEP_MS) },
  });
  expect(session.status).toBe(200);
  const generated = await call(server.url, 'POST', '/api/me/backup-codes', {
    token: session.body.token,
    body: { password: PASSWORD },
  });
  expect(generated.status).toBe(201);
  return { id, secret, lastStep, codes: (generated.body.codes as { code: string }[]).map((c) => c.code) };
}

/** What registration needs of an application: its URIs, and where to put the client it gets. */
export type Registrable = Pick<RelyingParty, 'redirectUri' | 'postLogoutRedirectUri' | 'setClient'>;

export async function registerApp(
  server: RunningServer,
  admin: string,
  rp: Registrable,
  type: 'confidential' | 'public',
  name = 'Test app',
) {
  const res = await call(server.url, 'POST', '/api/admin/applications', {
    token: admin,
    body: { name, type, redirectUris: [rp.redirectUri], postLogoutRedirectUris: [rp.postLogoutRedirectUri] },
  });
  expect(res.status).toBe(201);
  rp.setClient(res.body.application.clientId, res.body.clientSecret);
  return res.body as { application: { id: string; clientId: string }; clientSecret?: string };
}

/** From the app's sign-in link (or a page of it that needs a sign-in) to SpareKey's password page. */
export async function startAtApp(
  browser: HttpBrowser,
  rp: Pick<RelyingParty, 'url'>,
  path = '/login',
): Promise<Hop> {
  const page = await browser.navigate(`${rp.url}${path}`);
  expect(new URL(page.url).pathname).toBe('/login');
  expect(page.body).toContain('name="password"');
  return page;
}

/** Clicks **Sign out** on SpareKey's "Sign out of SpareKey?" page (its form has an xsrf field, no csrf). */
export async function confirmSignOut(browser: HttpBrowser, page: Hop): Promise<Hop> {
  expect(page.body).toContain('Sign out of SpareKey?');
  const xsrf = page.body.match(/name="xsrf" value="([^"]+)"/)?.[1];
  const action = page.body.match(/<form id="op.logoutForm" method="post" action="([^"]+)"/)?.[1];
  expect(xsrf && action, `the sign-out form on ${page.url}`).toBeTruthy();
  return browser.navigate(new URL(action ?? '', page.url).href, {
    form: { xsrf: xsrf ?? '', logout: 'yes' },
  });
}
