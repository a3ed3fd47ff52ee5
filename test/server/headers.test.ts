/**
 * Response headers through the real app: the HTML pages' Content-Security-Policy and friends,
 * Cache-Control no-store on every response that carries a code, a secret or a token, and no CORS
 * header anywhere, even when another origin asks. (HSTS needs TLS: see tls.test.ts.)
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

const ORIGIN = 'http://localhost';
const FOREIGN = 'https://evil.example';

let t: TestApp;
/** Every response of the test, with what produced it, for the checks that hold for all of them. */
let seen: { what: string; headers: Headers }[];

async function api(method: string, path: string, options: Parameters<typeof call>[3] = {}) {
  // Every API call claims a foreign origin: the answer must still carry no CORS header.
  const headers = { origin: FOREIGN, ...options.headers };
  const res = await call((req) => t.app.fetch(req), method, path, { ...options, headers });
  seen.push({ what: `${method} ${path}`, headers: res.headers });
  return res;
}

/** A browser without script: a cookie jar (by name; the server reads only what it needs) and forms. */
class Browser {
  readonly cookies = new Map<string, string>();

  async request(method: string, path: string, form?: Record<string, string>) {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = ORIGIN;
    }
    const body = form ? new URLSearchParams({ csrf: this.csrf(), ...form }).toString() : undefined;
    const res = await t.app.fetch(new Request(new URL(path, ORIGIN), { method, headers, body }));
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const [name = '', value = ''] = pair.split('=');
      if (attributes.some((a) => /^\s*max-age=0$/i.test(a)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    seen.push({ what: `${method} ${path}`, headers: res.headers });
    return { status: res.status, headers: res.headers, html: await res.text() };
  }

  csrf(): string {
    return this.cookies.get('sparekey_csrf') ?? '';
  }
}

/** The CSP as a map of directive -> sources. */
function csp(headers: Headers): Map<string, string[]> {
  const value = headers.get('content-security-policy');
  expect(value, 'a Content-Security-Policy header').toBeTruthy();
  return new Map(
    (value ?? '')
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...sources]) => [(name as string).toLowerCase(), sources]),
  );
}

/** What a browser enforces for an HTML page of ours. */
function expectHardenedPage(page: { headers: Headers; html: string }, what: string) {
  expect(page.headers.get('content-type'), what).toMatch(/^text\/html/);
  const policy = csp(page.headers);
  // script-src falls back to default-src: that pair decides whether any script may run.
  const scripts = policy.get('script-src') ?? policy.get('default-src') ?? [];
  expect(scripts.length, `${what}: a script source list`).toBeGreaterThan(0);
  for (const source of scripts) {
    expect(source, `${what}: script-src`).not.toMatch(
      /unsafe-inline|unsafe-eval|unsafe-hashes|nonce-|sha\d+-|^\*$|^data:$/,
    );
  }
  expect(policy.get('object-src') ?? policy.get('default-src'), what).toEqual(["'none'"]);
  expect(policy.get('frame-ancestors'), what).toEqual(["'none'"]);
  expect(policy.get('base-uri'), what).toEqual(["'none'"]);
  expect(page.headers.get('x-content-type-options'), what).toBe('nosniff');
  expect(page.headers.get('referrer-policy'), what).toBe('no-referrer');
  expect(page.headers.get('x-frame-options'), what).toBe('DENY');
  // And the page itself needs no script: nothing the policy would have to allow.
  expect(page.html, what).not.toMatch(/<script|\son[a-z]+\s*=|javascript:/i);
}

function expectNoStore(headers: Headers, what: string) {
  expect(headers.get('cache-control'), what).toBe('no-store');
}

beforeEach(async () => {
  t = await buildTestApp();
  seen = [];
});
afterEach(async () => {
  await t.close();
});

/** An admin, backup codes enabled, alice with an authenticator configured now and a set of codes. */
async function setUp() {
  await t.deps.store.createUser(await newUserRecord(t.deps, 'admin', 'admin-password', 'admin'));
  const adminLogin = await api('POST', '/api/auth/login', {
    body: { username: 'admin', password: 'admin-password' },
  });
  const admin = adminLogin.body.token as string;
  await api('PUT', '/api/admin/policy', {
    token: admin,
    body: { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 5, warnWhenRemaining: 1 } },
  });
  const created = await api('POST', '/api/admin/users', {
    token: admin,
    body: { username: 'alice', password: 'alice-password' },
  });
  const configured = await api('PATCH', `/api/admin/users/${created.body.user.id}`, {
    token: admin,
    body: { mfa: { type: 'totp' } },
  });
  const secret = configured.body.totp.secret as string;
  const login = await api('POST', '/api/auth/login', {
    body: { username: 'alice', password: 'alice-password' },
  });
  const mfa = await api('POST', '/api/auth/mfa', {
    body: { mfaToken: login.body.mfaToken, method: 'totp', code: currentTotp(secret, t.clock.now()) },
  });
  const generated = await api('POST', '/api/me/backup-codes', {
    token: mfa.body.token,
    body: { password: 'alice-password' },
  });
  return { admin, adminLogin, configured, login, mfa, generated, secret };
}

describe('responses that carry a code, a secret or a token', () => {
  it('are marked Cache-Control: no-store in the JSON API', async () => {
    const { adminLogin, configured, login, mfa, generated, admin } = await setUp();
    expect(adminLogin.body.token).toBeTypeOf('string');
    expectNoStore(adminLogin.headers, 'session token from the password step');
    expect(configured.body.totp.secret).toBeTypeOf('string');
    expectNoStore(configured.headers, 'TOTP secret set by the admin');
    expect(login.body.mfaToken).toBeTypeOf('string');
    expectNoStore(login.headers, 'mfaToken');
    expect(mfa.body.token).toBeTypeOf('string');
    expectNoStore(mfa.headers, 'session token from the MFA step');
    expect(generated.body.codes).toHaveLength(5);
    expectNoStore(generated.headers, 'the new backup codes');

    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const bob = await api('GET', '/api/admin/users', { token: admin });
    const bobId = bob.body.users.find((u: { username: string }) => u.username === 'bob').id;
    await api('PATCH', `/api/admin/users/${bobId}`, {
      token: admin,
      body: { mfa: { type: 'totp', configureLater: true } },
    });
    const enrol = await api('POST', '/api/auth/login', {
      body: { username: 'bob', password: 'bob-password' },
    });
    expect(enrol.body.status).toBe('mfa_enroll');
    expect(enrol.body.secret).toBeTypeOf('string');
    expectNoStore(enrol.headers, 'enrolment secret');
  });

  it('are marked Cache-Control: no-store in the web sign-in, and the pages are hardened', async () => {
    const { generated, admin } = await setUp();
    const browser = new Browser();

    const loginPage = await browser.request('GET', '/login');
    expect(loginPage.status).toBe(200);
    expectHardenedPage(loginPage, 'GET /login');
    expect(browser.csrf()).not.toBe('');
    expectNoStore(loginPage.headers, 'the login page sets the form token');

    const password = await browser.request('POST', '/login', {
      username: 'alice',
      password: 'alice-password',
    });
    expect(password.status).toBe(303);
    expectNoStore(password.headers, 'the MFA challenge cookie');
    const mfaPage = await browser.request('GET', '/login/mfa?method=backup_code');
    expect(mfaPage.html).toContain('name="backup_code"');
    expectHardenedPage(mfaPage, 'GET /login/mfa');

    const wrong = await browser.request('POST', '/login/mfa', { backup_code: 'AAAAA-AAAAA' });
    expect(wrong.status).toBe(401);
    expectHardenedPage(wrong, 'the MFA form shown again with an error');

    const code = generated.body.codes[0].code as string;
    const spent = await browser.request('POST', '/login/mfa', { backup_code: code });
    expect(spent.status).toBe(303);
    expect(spent.headers.getSetCookie().join()).toContain('sparekey_session=');
    expectNoStore(spent.headers, 'the session cookie');

    const account = await browser.request('GET', '/account');
    expect(account.status).toBe(200);
    expect(account.html).toContain('4 of 5');
    expectHardenedPage(account, 'GET /account');
    expectNoStore(account.headers, 'the account page');

    // Enrolment at sign-in shows the new TOTP secret (and its QR code) in the page.
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const users = await api('GET', '/api/admin/users', { token: admin });
    const bobId = users.body.users.find((u: { username: string }) => u.username === 'bob').id;
    await api('PATCH', `/api/admin/users/${bobId}`, {
      token: admin,
      body: { mfa: { type: 'totp', configureLater: true } },
    });
    const other = new Browser();
    await other.request('GET', '/login');
    expect(
      (await other.request('POST', '/login', { username: 'bob', password: 'bob-password' })).status,
    ).toBe(303);
    const enrol = await other.request('GET', '/login/enroll');
    expect(enrol.status).toBe(200);
    expect(enrol.html).toMatch(/class="secret">[A-Z2-7 ]{32,}</);
    expectHardenedPage(enrol, 'GET /login/enroll');
    expectNoStore(enrol.headers, 'the enrolment page shows the secret');
  });

  it('the error pages and the stylesheet are hardened too', async () => {
    const browser = new Browser();
    const refused = await browser.request('POST', '/login', { username: 'x', password: 'y' });
    expect(refused.status).toBe(403);
    expectHardenedPage(refused, 'a form post without the form token');
    const css = await browser.request('GET', '/static/sparekey.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('cross-origin access', () => {
  it('sends no CORS header on any response, preflights included', async () => {
    const { admin } = await setUp();
    for (const path of ['/api/auth/login', '/api/auth/mfa', '/api/me', '/api/admin/users', '/login']) {
      const preflight = await api('OPTIONS', path, {
        headers: {
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      // A preflight that is not answered with CORS headers fails in the browser: the call never leaves.
      expect(preflight.status, path).toBeGreaterThanOrEqual(400);
    }
    await api('GET', '/api/me', { token: admin });
    await api('GET', '/api/nope');
    await api('GET', '/api/openapi.json');
    const browser = new Browser();
    await browser.request('GET', '/login');

    expect(seen.length).toBeGreaterThan(15);
    for (const { what, headers } of seen) {
      const cors = [...headers.keys()].filter((name) => name.startsWith('access-control-'));
      expect(cors, what).toEqual([]);
      expect(headers.get('strict-transport-security'), `${what}: HSTS only over TLS`).toBeNull();
      expect(headers.get('x-content-type-options'), what).toBe('nosniff');
    }
  });
});
