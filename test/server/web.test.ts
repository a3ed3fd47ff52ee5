/**
 * The web sign-in screen through the real app on a real lowdb store, driven like a browser without
 * JavaScript: a cookie jar that honours Path, form posts with the page's hidden token, no redirect following.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentTotp, newTotpSecret } from '../../server/crypto/totp';
import { generateBackupCodes } from '../../server/services/backup-codes';
import { newUserRecord } from '../../server/services/users';
import type { UserRecord } from '../../server/store/types';
import type { Policy } from '../../shared/api';
import { buildTestApp, type TestApp } from '../support/fakes';

const ORIGIN = 'http://localhost';
const META = { ip: null, userAgent: 'web-test' };
/** Every place a page may send the browser: fixed paths, so nothing secret can ride along. */
const KNOWN_LOCATIONS =
  /^\/(login(\/mfa|\/enroll)?(\?notice=(expired|signed_out|mfa_required))?|account(\/password|\?notice=password_changed)?)$/;

let t: TestApp;

interface Page {
  status: number;
  html: string;
  location: string | null;
  headers: Headers;
  setCookies: string[];
}

interface Jar {
  value: string;
  path: string;
}

/** A browser with cookies and no script. Every response's Location is checked against KNOWN_LOCATIONS. */
class Browser {
  readonly cookies = new Map<string, Jar>();
  readonly locations: string[] = [];

  cookieHeader(path: string): string {
    return [...this.cookies]
      .filter(
        ([, c]) =>
          path === c.path ||
          path.startsWith(c.path === '/' ? '/' : `${c.path}/`) ||
          path.startsWith(`${c.path}?`),
      )
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }

  async request(
    method: string,
    path: string,
    options: { body?: string; contentType?: string; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const headers: Record<string, string> = {};
    const cookie = this.cookieHeader(path);
    if (cookie) headers.cookie = cookie;
    if (options.body !== undefined)
      headers['content-type'] = options.contentType ?? 'application/x-www-form-urlencoded';
    Object.assign(headers, options.headers);
    const response = await t.app.fetch(
      new Request(new URL(path, ORIGIN), { method, headers, body: options.body, redirect: 'manual' }),
    );
    const setCookies = response.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const pathAttr = attributes.find((a) => a.toLowerCase().startsWith('path='));
      if (attributes.some((a) => a.toLowerCase() === 'max-age=0')) this.cookies.delete(name);
      else this.cookies.set(name, { value: pair.slice(eq + 1), path: pathAttr?.slice(5) ?? '/' });
    }
    const location = response.headers.get('location');
    if (location) this.locations.push(location);
    return {
      status: response.status,
      html: await response.text(),
      location,
      headers: response.headers,
      setCookies,
    };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  /** Submits `fields` the way the page's form would: with its hidden token and our Origin. */
  submit(page: Page, action: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    const body = new URLSearchParams({ csrf: csrfToken(page.html), ...fields }).toString();
    return this.request('POST', action, { body, headers: { origin: ORIGIN, ...headers } });
  }
}

function csrfToken(html: string): string {
  const token = html.match(/<input type="hidden" name="csrf" value="([^"]+)">/)?.[1];
  if (!token) throw new Error(`no csrf field in page:\n${html}`);
  return token;
}

/** The opening tag of the input with this id, to check its attributes. */
function input(html: string, id: string): string {
  const tag = html.match(new RegExp(`<input id="${id}"[^>]*>`))?.[0];
  if (!tag) throw new Error(`no input #${id} in page:\n${html}`);
  return tag;
}

function cookieLine(page: Page, name: string): string {
  const line = page.setCookies.find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`no Set-Cookie for ${name}: ${page.setCookies.join(' | ')}`);
  return line;
}

const ENABLED: Policy = {
  mfaUsage: 'optional_per_user',
  backupCodes: { enabled: true, count: 4, warnWhenRemaining: 3 },
};

async function addUser(
  username = 'alice',
  options: { totp?: boolean } = {},
): Promise<UserRecord & { secret: string }> {
  const user = await newUserRecord(t.deps, username, `${username}-password`, 'user');
  const secret = newTotpSecret();
  if (options.totp)
    user.mfa = { type: 'totp', secret, enrolled: true, configureLater: false, lastStep: null };
  await t.deps.store.createUser(user);
  return { ...user, secret };
}

/** Password step through the form; returns the page the POST answered. */
async function passwordStep(browser: Browser, username: string, password = `${username}-password`) {
  const form = await browser.get('/login');
  expect(form.status).toBe(200);
  return browser.submit(form, '/login', { username, password });
}

/** A fresh TOTP step each time, since a step once accepted is refused again. */
function nextTotp(secret: string): string {
  t.clock.advance(30_000);
  return currentTotp(secret, t.clock.now());
}

let browsers: Browser[] = [];
function newBrowser() {
  const browser = new Browser();
  browsers.push(browser);
  return browser;
}

beforeEach(async () => {
  t = await buildTestApp();
  browsers = [];
});
afterEach(async () => {
  // No page ever put a token, secret or code in a URL it sent the browser to.
  for (const browser of browsers) {
    for (const location of browser.locations) expect(location).toMatch(KNOWN_LOCATIONS);
  }
  await t.close();
});

describe('pages', () => {
  it('/ sends a visitor to /login; the login form is labelled, styled from /static and script-free', async () => {
    const browser = newBrowser();
    const root = await browser.get('/');
    expect(root.status).toBe(303);
    expect(root.location).toBe('/login');

    const page = await browser.get('/login');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.html).toMatch(/<title>[^<]*SpareKey<\/title>/);
    expect(page.html.match(/<h1>/g)).toHaveLength(1);
    expect(page.html).toContain('<label for="username">Username</label>');
    expect(page.html).toContain('<label for="password">Password</label>');
    expect(input(page.html, 'username')).toContain('autocomplete="username"');
    expect(input(page.html, 'username')).toContain('autofocus');
    expect(input(page.html, 'password')).toContain('type="password"');
    expect(input(page.html, 'password')).toContain('autocomplete="current-password"');
    expect(page.html).not.toMatch(/<script/i);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");

    const css = await browser.get('/static/sparekey.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
    expect(css.html).toContain('prefers-color-scheme: dark');
  });
});

describe('sign-in with a password only', () => {
  it('signs in, shows the account, signs out, and the old session cookie no longer works', async () => {
    await addUser('alice');
    const browser = newBrowser();
    const signedIn = await passwordStep(browser, 'alice');
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe('/account');

    const session = cookieLine(signedIn, 'sparekey_session');
    expect(session).toContain('HttpOnly');
    expect(session).toContain('SameSite=Strict');
    expect(session).toContain('Path=/');
    expect(session).toContain(`Max-Age=${t.deps.security.sessionMaxMs / 1000}`);
    expect(session).not.toContain('Secure'); // plain HTTP in this test app

    const account = await browser.get('/account');
    expect(account.status).toBe(200);
    expect(account.html).toContain('Signed in as alice');
    expect(account.html).toContain('No backup codes generated yet.');
    expect(account.html).toContain('Your administrator has not enabled backup codes.');
    expect((await browser.get('/')).location).toBe('/account');
    expect((await browser.get('/login')).location).toBe('/account');

    const stolen = browser.cookies.get('sparekey_session')?.value ?? '';
    const out = await browser.submit(account, '/logout', {});
    expect(out.status).toBe(303);
    expect(out.location).toBe('/login?notice=signed_out');
    expect(browser.cookies.has('sparekey_session')).toBe(false);
    expect((await browser.get('/login?notice=signed_out')).html).toContain('You have signed out.');
    expect((await browser.get('/account')).location).toBe('/login');

    browser.cookies.set('sparekey_session', { value: stolen, path: '/' });
    expect((await browser.get('/account')).location).toBe('/login');
  });

  it('a user whose MFA is "None" under "optional per user" reads on /account who can change that', async () => {
    await t.deps.store.setPolicy(ENABLED);
    await addUser('alice');
    const browser = newBrowser();
    expect((await passwordStep(browser, 'alice')).location).toBe('/account');
    const account = await browser.get('/account');
    expect(account.html).toContain(
      'Ask your administrator to set up multifactor authentication for your account.',
    );
    expect(account.html).not.toContain('must be configured for your account first');
  });

  it('a wrong password re-shows the form with the generic error, keeps the username, sets no session', async () => {
    await addUser('alice');
    const browser = newBrowser();
    const page = await passwordStep(browser, 'alice', 'not-the-password');
    expect(page.status).toBe(401);
    expect(page.html).toContain(
      '<p class="alert" id="form-error" role="alert">Invalid username or password.</p>',
    );
    expect(input(page.html, 'username')).toContain('value="alice"');
    expect(input(page.html, 'password')).not.toContain('value=');
    expect(input(page.html, 'password')).toContain('aria-describedby="form-error"');
    expect(input(page.html, 'password')).toContain('autofocus');
    expect(browser.cookies.has('sparekey_session')).toBe(false);

    const unknown = await passwordStep(browser, 'nobody', 'whatever');
    expect(unknown.status).toBe(401);
    expect(unknown.html).toContain('Invalid username or password.');
  });

  it('missing and oversized fields re-show the form with a message at the field, never a 500', async () => {
    const browser = newBrowser();
    const form = await browser.get('/login');
    const empty = await browser.submit(form, '/login', { username: '', password: '' });
    expect(empty.status).toBe(400);
    expect(empty.html).toContain(
      '<p class="field-error" id="username-error" role="alert">Enter your username.</p>',
    );
    expect(input(empty.html, 'username')).toContain('aria-describedby="username-error"');
    expect(input(empty.html, 'password')).toContain('aria-invalid="true"');

    const long = await browser.submit(form, '/login', { username: 'a'.repeat(65), password: 'x' });
    expect(long.status).toBe(400);
    expect(long.html).toContain('That username is too long.');

    const missing = await browser.submit(form, '/login', {});
    expect(missing.status).toBe(400);

    const huge = await browser.submit(form, '/login', { username: 'alice', password: 'p'.repeat(20_000) });
    expect(huge.status).toBe(413);

    // A browser asking for a page gets a page, not the API's JSON.
    const page = await t.app.fetch(
      new Request('http://127.0.0.1/login', {
        method: 'POST',
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
        body: `password=${'p'.repeat(20_000)}`,
      }),
    );
    expect(page.status).toBe(413);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('larger than');
  });

  it('escapes what users type and what the store holds', async () => {
    const browser = newBrowser();
    const typed = await passwordStep(browser, '<script>alert(1)</script>', 'whatever');
    expect(typed.status).toBe(401);
    expect(typed.html).not.toContain('<script>');
    expect(input(typed.html, 'username')).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');

    // The API refuses such names, but the page must not trust the store to have done so.
    await addUser('<script>x</script>"');
    const other = newBrowser();
    const signedIn = await passwordStep(other, '<script>x</script>"');
    expect(signedIn.location).toBe('/account');
    const account = await other.get('/account');
    expect(account.html).toContain('Signed in as &lt;script&gt;x&lt;/script&gt;&quot;');
    expect(account.html).not.toContain('<script>');
  });
});

describe('sign-in with an authenticator code', () => {
  it('asks for the code on a page of its own, then signs in', async () => {
    const alice = await addUser('alice', { totp: true });
    const browser = newBrowser();
    const step = await passwordStep(browser, 'alice');
    expect(step.status).toBe(303);
    expect(step.location).toBe('/login/mfa');
    expect(browser.cookies.has('sparekey_session')).toBe(false);

    const challenge = cookieLine(step, 'sparekey_mfa');
    expect(challenge).toContain('HttpOnly');
    expect(challenge).toContain('SameSite=Strict');
    // Path=/ as __Host- demands; it lives 5 minutes and only the sign-in pages read it.
    expect(challenge).toContain('Path=/;');
    expect(challenge).toContain(`Max-Age=${t.deps.security.mfaTokenMs / 1000}`);

    const page = await browser.get('/login/mfa');
    expect(page.status).toBe(200);
    expect(page.html).toContain('<p class="who">Signing in as alice</p>');
    expect(page.html).toContain('<form method="post" action="/login/mfa" data-username="alice">');
    expect(page.html).toContain('<label for="totp">Authenticator code</label>');
    const totp = input(page.html, 'totp');
    expect(totp).toContain('name="totp"');
    expect(totp).toContain('autocomplete="one-time-code"');
    expect(totp).toContain('inputmode="numeric"');
    expect(totp).toContain('autofocus');
    // No codes and a policy without them: no backup-code link.
    expect(page.html).not.toContain('Use a backup code');

    const done = await browser.submit(page, '/login/mfa', { totp: nextTotp(alice.secret) });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account');
    expect(browser.cookies.has('sparekey_mfa')).toBe(false);
    expect((await browser.get('/account')).html).toContain('Signed in as alice');
  });

  it('a wrong code re-shows the form with the error at the field', async () => {
    await addUser('alice', { totp: true });
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    const page = await browser.get('/login/mfa');
    const wrong = await browser.submit(page, '/login/mfa', { totp: '000000' });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain(
      '<p class="field-error" id="totp-error" role="alert">That code is not valid.</p>',
    );
    expect(input(wrong.html, 'totp')).toMatch(/aria-describedby="totp-hint totp-error"/);
    expect(browser.cookies.has('sparekey_session')).toBe(false);

    const empty = await browser.submit(wrong, '/login/mfa', { totp: '' });
    expect(empty.status).toBe(400);
    expect(empty.html).toContain('Enter your authenticator code.');
  });

  it('locks the MFA step after 5 wrong codes: 429 with the time left, even for the right code', async () => {
    const alice = await addUser('alice', { totp: true });
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    let page = await browser.get('/login/mfa');
    for (let i = 1; i <= 4; i++) {
      page = await browser.submit(page, '/login/mfa', { totp: '000000' });
      expect(page.status).toBe(401);
    }
    const locked = await browser.submit(page, '/login/mfa', { totp: '000000' });
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('900');
    expect(locked.html).toContain('Too many failed attempts. Try again in 15 minutes.');
    expect(input(locked.html, 'totp')).toBeTruthy();

    const right = await browser.submit(locked, '/login/mfa', { totp: nextTotp(alice.secret) });
    expect(right.status).toBe(429);
    expect(browser.cookies.has('sparekey_session')).toBe(false);
    expect((await browser.get('/login/mfa')).html).toContain(
      'Too many failed attempts. Try again in 15 minutes.',
    );

    // The same lock holds for a fresh sign-in from another browser.
    const other = newBrowser();
    await passwordStep(other, 'alice');
    const again = await other.submit(await other.get('/login/mfa'), '/login/mfa', {
      totp: nextTotp(alice.secret),
    });
    expect(again.status).toBe(429);
  });

  it('an expired challenge sends the browser back to /login with a message', async () => {
    const alice = await addUser('alice', { totp: true });
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    const page = await browser.get('/login/mfa');
    t.clock.advance(t.deps.security.mfaTokenMs + 1000);
    const late = await browser.submit(page, '/login/mfa', { totp: currentTotp(alice.secret, t.clock.now()) });
    expect(late.status).toBe(303);
    expect(late.location).toBe('/login?notice=expired');
    expect(browser.cookies.has('sparekey_mfa')).toBe(false);
    const login = await browser.get('/login?notice=expired');
    expect(login.html).toContain('Your sign-in expired or was already completed. Sign in again.');
    expect((await browser.get('/login/mfa')).location).toBe('/login?notice=expired');
  });
});

describe('sign-in with a backup code', () => {
  async function aliceWithCodes() {
    await t.deps.store.setPolicy(ENABLED);
    const alice = await addUser('alice', { totp: true });
    const { codes } = await generateBackupCodes(t.deps, META, alice, 'alice-password');
    return { alice, codes: codes.map((c) => c.code) };
  }

  it('switches to the backup-code form, spends a code, and /account counts it', async () => {
    const { alice, codes } = await aliceWithCodes();
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    const totpPage = await browser.get('/login/mfa');
    expect(totpPage.html).toContain('<a href="/login/mfa?method=backup_code">Use a backup code</a>');

    const page = await browser.get('/login/mfa?method=backup_code');
    expect(page.status).toBe(200);
    // Who is signing in, for the person and for the extension (it fills only that user's kept codes).
    expect(page.html).toContain('<p class="who">Signing in as alice</p>');
    // The mark is what the extension's autofill requires: only this form of the server gets a code.
    // The user id: the extension keeps codes per server and user id.
    expect(page.html).toContain(
      `<form method="post" action="/login/mfa" data-username="alice" data-sparekey-form="backup_code" data-user-id="${alice.id}">`,
    );
    expect(page.html).toContain('<label for="backup_code">Backup code</label>');
    const field = input(page.html, 'backup_code');
    expect(field).toContain('name="backup_code"');
    expect(field).toContain('autocomplete="one-time-code"');
    expect(field).toContain('autocapitalize="characters"');
    expect(field).toContain('spellcheck="false"');
    expect(field).toContain('autofocus');
    expect(page.html).not.toContain('id="totp"');
    expect(page.html).toContain('<a href="/login/mfa">Use your authenticator app</a>');

    // Typed the way people do: lower case, no dash.
    const typed = (codes[1] ?? '').replace('-', '').toLowerCase();
    const done = await browser.submit(page, '/login/mfa', { backup_code: typed });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account');
    const account = await browser.get('/account');
    expect(account.html).toContain('Signed in as alice');
    expect(account.html).toContain('3 of 4 backup codes left');
    expect(account.html).toContain('Few backup codes are left');
  });

  it('the same code is refused the second time and the backup-code form is re-shown', async () => {
    const { codes } = await aliceWithCodes();
    const first = newBrowser();
    await passwordStep(first, 'alice');
    const page = await first.get('/login/mfa?method=backup_code');
    expect((await first.submit(page, '/login/mfa', { backup_code: codes[0] ?? '' })).location).toBe(
      '/account',
    );

    const second = newBrowser();
    await passwordStep(second, 'alice');
    const again = await second.get('/login/mfa?method=backup_code');
    const refused = await second.submit(again, '/login/mfa', { backup_code: codes[0] ?? '' });
    expect(refused.status).toBe(409);
    expect(refused.html).toContain(
      '<p class="field-error" id="backup_code-error" role="alert">This backup code has already been used (each code works once): use another one.</p>',
    );
    expect(input(refused.html, 'backup_code')).toContain('backup_code-error');
    expect(refused.html).toContain('Signing in as alice');
    expect(refused.html).toContain('data-username="alice"');
    expect(second.cookies.has('sparekey_session')).toBe(false);

    // The next code still works, and the count goes down again.
    const next = await second.submit(refused, '/login/mfa', { backup_code: codes[1] ?? '' });
    expect(next.location).toBe('/account');
    expect((await second.get('/account')).html).toContain('2 of 4 backup codes left');
  });

  it('wrong backup codes count towards the same lockout', async () => {
    const { codes } = await aliceWithCodes();
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    let page = await browser.get('/login/mfa?method=backup_code');
    for (let i = 1; i <= 5; i++) {
      page = await browser.submit(page, '/login/mfa', { backup_code: 'AAAAA-AAAAA' });
      expect(page.status).toBe(i < 5 ? 401 : 429);
    }
    expect(page.html).toContain('Too many failed attempts');
    expect(input(page.html, 'backup_code')).toBeTruthy();
    expect((await browser.submit(page, '/login/mfa', { backup_code: codes[0] ?? '' })).status).toBe(429);
  });

  it('does not offer the backup-code form when no code is left', async () => {
    await t.deps.store.setPolicy(ENABLED);
    await addUser('alice', { totp: true });
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    const page = await browser.get('/login/mfa?method=backup_code');
    expect(page.html).not.toContain('Use a backup code');
    expect(page.html).not.toContain('id="backup_code"');
    expect(input(page.html, 'totp')).toBeTruthy();
  });
});

describe('enrolment at sign-in', () => {
  it('shows the secret grouped and a QR code; a wrong code is refused, the first right code enrols', async () => {
    await t.deps.store.setPolicy({ ...ENABLED, mfaUsage: 'required' });
    const alice = await addUser('alice');
    const browser = newBrowser();
    const step = await passwordStep(browser, 'alice');
    expect(step.location).toBe('/login/enroll');
    // Enrolment has its own page; the code page sends the browser there.
    expect((await browser.get('/login/mfa')).location).toBe('/login/enroll');

    const page = await browser.get('/login/enroll');
    expect(page.status).toBe(200);
    const grouped = page.html.match(/<code class="secret">([A-Z2-7 ]+)<\/code>/)?.[1] ?? '';
    expect(grouped).toMatch(/^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/);
    const secret = grouped.replaceAll(' ', '');
    expect(secret).toHaveLength(32);
    expect(page.html).toMatch(/<div class="qr" role="img" aria-label="[^"]+"><svg [^>]*viewBox/);
    expect(input(page.html, 'totp')).toContain('autocomplete="one-time-code"');

    const wrong = await browser.submit(page, '/login/enroll', { totp: '000000' });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('That code is not valid.');
    expect(wrong.html).toContain(grouped); // the same secret, so the app already set up still fits
    expect((await t.deps.store.getUser(alice.id))?.mfa.enrolled).toBe(false);

    const done = await browser.submit(wrong, '/login/enroll', { totp: nextTotp(secret) });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account');
    const stored = await t.deps.store.getUser(alice.id);
    expect(stored?.mfa).toMatchObject({ type: 'totp', enrolled: true, secret });
    expect((await browser.get('/account')).html).toContain('Signed in as alice');

    // Next time the code page asks for the enrolled authenticator.
    const later = newBrowser();
    expect((await passwordStep(later, 'alice')).location).toBe('/login/mfa');
    const code = await later.submit(await later.get('/login/mfa'), '/login/mfa', { totp: nextTotp(secret) });
    expect(code.location).toBe('/account');
  });
});

/** The field's error shown on the page, or null. */
function fieldError(html: string, id: string): string | null {
  return (
    html.match(new RegExp(`<p class="field-error" id="${id}-error" role="alert">([^<]*)</p>`))?.[1] ?? null
  );
}

describe('changing the password', () => {
  it('from /account: errors at their field, then the change; other sessions end, this one goes on', async () => {
    await addUser('alice');
    const elsewhere = newBrowser();
    await passwordStep(elsewhere, 'alice');
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    const account = await browser.get('/account');
    expect(account.html).toContain('<a href="/account/password">Change password</a>');

    const form = await browser.get('/account/password');
    expect(form.status).toBe(200);
    expect(form.html).toContain('<label for="current_password">Current password</label>');
    expect(input(form.html, 'new_password')).toContain('autocomplete="new-password"');
    expect(input(form.html, 'current_password')).toContain('autocomplete="current-password"');
    const submit = (fields: Record<string, string>) => browser.submit(form, '/account/password', fields);

    const wrong = await submit({
      current_password: 'not-it',
      new_password: 'velvet-lantern-harbour',
      confirm_password: 'velvet-lantern-harbour',
    });
    expect(wrong.status).toBe(401);
    expect(fieldError(wrong.html, 'current_password')).toBe('That is not your current password.');
    const common = await submit({
      current_password: 'alice-password',
      new_password: 'Password1',
      confirm_password: 'Password1',
    });
    expect(common.status).toBe(400);
    expect(fieldError(common.html, 'new_password')).toMatch(/commonly used/);
    const differ = await submit({
      current_password: 'alice-password',
      new_password: 'velvet-lantern-harbour',
      confirm_password: 'velvet-lantern-harbor',
    });
    expect(differ.status).toBe(400);
    expect(fieldError(differ.html, 'confirm_password')).toBe('The two new passwords differ.');
    // The session still works after the refusals, and no password is echoed back into a page.
    expect(differ.html).not.toContain('velvet-lantern-harbour');
    expect((await browser.get('/account')).status).toBe(200);

    const done = await submit({
      current_password: 'alice-password',
      new_password: 'velvet-lantern-harbour',
      confirm_password: 'velvet-lantern-harbour',
    });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account?notice=password_changed');
    const after = await browser.get('/account?notice=password_changed');
    expect(after.status).toBe(200);
    expect(after.html).toContain('Your password is changed.');
    expect((await elsewhere.get('/account')).location).toBe('/login');
    expect((await passwordStep(newBrowser(), 'alice')).status).toBe(401);
    expect((await passwordStep(newBrowser(), 'alice', 'velvet-lantern-harbour')).location).toBe('/account');
  });

  it('after an admin reset, /account leads to the change page and nothing else, until it is done', async () => {
    const alice = await addUser('alice');
    await t.deps.store.updateUser(alice.id, (user) => ({
      user: { ...user, mustChangePassword: true },
      result: null,
    }));
    const browser = newBrowser();
    const step = await passwordStep(browser, 'alice');
    expect(step.location).toBe('/account');
    const account = await browser.get('/account');
    expect(account.status).toBe(303);
    expect(account.location).toBe('/account/password');
    const form = await browser.get('/account/password');
    expect(form.html).toContain('choose your own to continue');
    expect(form.html).not.toContain('Back to your account');
    const done = await browser.submit(form, '/account/password', {
      current_password: 'alice-password',
      new_password: 'velvet-lantern-harbour',
      confirm_password: 'velvet-lantern-harbour',
    });
    expect(done.location).toBe('/account?notice=password_changed');
    expect((await browser.get('/account')).status).toBe(200);
    expect((await t.deps.store.getUser(alice.id))?.mustChangePassword).toBe(false);
  });

  it('a few changes a minute: the next is refused at the form with Retry-After, and the password stays', async () => {
    await addUser('alice');
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    let password = 'alice-password';
    const change = async (next: string) => {
      const form = await browser.get('/account/password');
      return browser.submit(form, '/account/password', {
        current_password: password,
        new_password: next,
        confirm_password: next,
      });
    };
    for (const next of ['velvet-lantern-one', 'velvet-lantern-two', 'velvet-lantern-three']) {
      expect((await change(next)).location).toBe('/account?notice=password_changed');
      password = next;
    }
    const refused = await change('velvet-lantern-four');
    expect(refused.status).toBe(429);
    expect(refused.html).toContain('This was done too often in the last minute. Try again in a minute.');
    expect(refused.headers.get('retry-after')).toBe('60');
    expect((await passwordStep(newBrowser(), 'alice', 'velvet-lantern-four')).status).toBe(401);
    expect((await passwordStep(newBrowser(), 'alice', password)).location).toBe('/account');
  });

  it('refuses a change without the form token, and without a session', async () => {
    await addUser('alice');
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    const fields = {
      current_password: 'alice-password',
      new_password: 'velvet-lantern-harbour',
      confirm_password: 'velvet-lantern-harbour',
    };
    const forged = await browser.request('POST', '/account/password', {
      body: new URLSearchParams(fields).toString(),
      headers: { origin: ORIGIN },
    });
    expect(forged.status).toBe(403);
    const stranger = newBrowser();
    const page = await stranger.get('/login');
    const anonymous = await stranger.submit(page, '/account/password', fields);
    expect(anonymous.location).toBe('/login');
    expect((await passwordStep(newBrowser(), 'alice')).location).toBe('/account');
  });
});

describe('a switch to "MFA required"', () => {
  it('ends a password-only session and leads through sign-in to enrolment', async () => {
    await addUser('alice');
    const browser = new Browser();
    expect((await passwordStep(browser, 'alice')).location).toBe('/account');
    expect((await browser.get('/account')).status).toBe(200);

    await t.deps.store.setPolicy({ ...ENABLED, mfaUsage: 'required' });
    const refused = await browser.get('/account');
    expect(refused.status).toBe(303);
    expect(refused.location).toBe('/login?notice=mfa_required');
    expect(browser.cookies.has('sparekey_session')).toBe(false);
    const notice = await browser.get('/login?notice=mfa_required');
    expect(notice.status).toBe(200);
    expect(notice.html).toContain('Multifactor authentication is now required for your account.');

    // Signing in again now asks for the enrolment the policy wants.
    expect((await passwordStep(browser, 'alice')).location).toBe('/login/enroll');
  });
});

describe('CSRF', () => {
  it('refuses a form without the token, with a foreign token, or with a foreign Origin', async () => {
    await addUser('alice');
    const browser = newBrowser();
    const form = await browser.get('/login');
    const fields = { username: 'alice', password: 'alice-password' };

    const noToken = await browser.request('POST', '/login', {
      body: new URLSearchParams(fields).toString(),
      headers: { origin: ORIGIN },
    });
    expect(noToken.status).toBe(403);
    expect(noToken.html).toContain('role="alert"');

    // An attacker's own valid token does not match the victim's cookie.
    const attacker = newBrowser();
    const theirs = await attacker.get('/login');
    const foreignToken = await browser.submit(theirs, '/login', fields);
    expect(foreignToken.status).toBe(403);

    const foreignOrigin = await browser.submit(form, '/login', fields, { origin: 'https://evil.example' });
    expect(foreignOrigin.status).toBe(403);

    const crossSite = await browser.request('POST', '/login', {
      body: new URLSearchParams({ csrf: csrfToken(form.html), ...fields }).toString(),
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);

    const json = await browser.request('POST', '/login', {
      body: JSON.stringify(fields),
      contentType: 'application/json',
      headers: { origin: ORIGIN },
    });
    expect(json.status).toBe(403);
    expect(browser.cookies.has('sparekey_session')).toBe(false);

    // The same form with its token and our Origin goes through.
    expect((await browser.submit(form, '/login', fields)).location).toBe('/account');
  });

  it("a form with neither Origin nor Sec-Fetch-Site is refused, token or not; a browser's headers pass", async () => {
    await addUser('alice');
    const fields = { username: 'alice', password: 'alice-password' };
    const post = async (headers: Record<string, string>) => {
      const browser = newBrowser();
      const form = await browser.get('/login');
      const body = new URLSearchParams({ csrf: csrfToken(form.html), ...fields }).toString();
      return { browser, page: await browser.request('POST', '/login', { body, headers }) };
    };
    // A right token and cookie do not stand in for the headers: the token is a second lock.
    const bare = await post({});
    expect(bare.page.status).toBe(403);
    expect(bare.browser.cookies.has('sparekey_session')).toBe(false);
    // Under Referrer-Policy: no-referrer a browser sends Origin: null, and Sec-Fetch-Site with it.
    expect((await post({ origin: 'null' })).page.status).toBe(403);
    const browserLike = await post({ origin: 'null', 'sec-fetch-site': 'same-origin' });
    expect(browserLike.page.location).toBe('/account');
    expect((await post({ origin: ORIGIN })).page.location).toBe('/account');
  });

  it('a forged sign-out is refused and the session survives', async () => {
    await addUser('alice');
    const browser = newBrowser();
    await passwordStep(browser, 'alice');
    const forged = await browser.request('POST', '/logout', { body: '', headers: { origin: ORIGIN } });
    expect(forged.status).toBe(403);
    expect((await browser.get('/account')).status).toBe(200);
  });

  it('every cookie is HttpOnly and SameSite=Strict; with HTTPS they are Secure and prefixed', async () => {
    await addUser('alice', { totp: true });
    const browser = newBrowser();
    const form = await browser.get('/login');
    const csrf = cookieLine(form, 'sparekey_csrf');
    expect(csrf).toContain('HttpOnly');
    expect(csrf).toContain('SameSite=Strict');

    await t.close();
    t = await buildTestApp({ https: true });
    const alice = await addUser('alice', { totp: true });
    const secure = newBrowser();
    const page = await secure.get('/login');
    expect(cookieLine(page, '__Host-sparekey_csrf')).toMatch(/Path=\/.*Secure|Secure.*Path=\//);
    const step = await secure.submit(page, '/login', { username: 'alice', password: 'alice-password' });
    const challenge = cookieLine(step, '__Host-sparekey_mfa');
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/;']) {
      expect(challenge).toContain(attribute);
    }
    const done = await secure.submit(await secure.get('/login/mfa'), '/login/mfa', {
      totp: nextTotp(alice.secret),
    });
    const session = cookieLine(done, '__Host-sparekey_session');
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/']) {
      expect(session).toContain(attribute);
    }
    expect(done.headers.get('strict-transport-security')).toContain('max-age=');
  });
});
