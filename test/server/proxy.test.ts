/**
 * The real server behind a simulated reverse proxy: plain HTTP on the loopback, with the headers a
 * proxy adds (X-Forwarded-For appended on the right, Host and X-Forwarded-Proto of the public address).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { type RawReply, rawRequest } from '../support/raw-request';
import { call, type RunningServer, startServer } from '../support/server';

const PUBLIC = 'https://sparekey.example';

/** X-Forwarded-For as a proxy passes it on: what the client sent, then the address the proxy saw. */
const forwarded = (clientWrote: string, proxySaw: string) => ({
  'x-forwarded-for': clientWrote ? `${clientWrote}, ${proxySaw}` : proxySaw,
});

describe('TRUST_PROXY=1: the client address is the one the proxy appended', () => {
  let server: RunningServer;
  afterEach(async () => {
    await server?.stop();
  });

  const login = (headers: Record<string, string>, password = 'wrong-password') =>
    call(server.url, 'POST', '/api/auth/login', { headers, body: { username: 'admin', password } });

  it('a client rotating the leftmost X-Forwarded-For entries is still throttled by its real address', async () => {
    server = await startServer({ env: { TRUST_PROXY: '1', IP_FAILURE_LIMIT: '3' } });
    for (let i = 0; i < 3; i++) {
      const res = await login(forwarded(`10.0.0.${i}, 192.0.2.${i}`, '203.0.113.9'));
      expect(res.status).toBe(401);
    }
    // A fresh made-up address on the left, the right password: still the same client, still throttled.
    const blocked = await login(forwarded('10.9.9.9', '203.0.113.9'), server.adminPassword);
    expect(blocked.status).toBe(429);
    // The same address written another way (IPv4-mapped IPv6) is the same client.
    expect((await login(forwarded('', '::ffff:203.0.113.9'), server.adminPassword)).status).toBe(429);
    // Another client behind the same proxy is not.
    expect((await login(forwarded('203.0.113.9', '198.51.100.7'), server.adminPassword)).status).toBe(200);
  });

  it('an IPv6 client rotating through its /64 is still throttled; the audit log keeps each full address', async () => {
    server = await startServer({ env: { TRUST_PROXY: '1', IP_FAILURE_LIMIT: '3' } });
    for (let i = 1; i <= 3; i++) {
      expect((await login(forwarded('', `2001:db8:7:7::${i}`))).status).toBe(401);
    }
    const blocked = await login(forwarded('', '2001:db8:7:7:ffff::1'), server.adminPassword);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('too_many_attempts');
    // The next /64 is another client.
    const admin = await login(forwarded('', '2001:db8:7:8::1'), server.adminPassword);
    expect(admin.status).toBe(200);
    const audit = await call(server.url, 'GET', '/api/admin/audit?type=login_failed&limit=10', {
      token: admin.body.token,
      headers: forwarded('', '2001:db8:7:8::1'),
    });
    const ips = audit.body.events.map((e: { ip: string | null }) => e.ip);
    expect(new Set(ips)).toEqual(new Set(['2001:db8:7:7::1', '2001:db8:7:7::2', '2001:db8:7:7::3']));
  });

  it('an X-Forwarded-For value that is not an address never reaches the audit log', async () => {
    server = await startServer({ env: { TRUST_PROXY: '1' } });
    const hostile = ['<script>alert(1)</script>', 'unknown', '1.2.3.4:80', '../../etc'];
    for (const value of hostile) {
      expect((await login(forwarded('', value))).status).toBe(401);
      expect((await login(forwarded(value, value))).status).toBe(401);
    }
    const admin = await login(forwarded('', '198.51.100.8'), server.adminPassword);
    expect(admin.status).toBe(200);
    const audit = await call(server.url, 'GET', '/api/admin/audit?type=login_failed&limit=500', {
      token: admin.body.token,
      headers: forwarded('', '198.51.100.8'),
    });
    expect(audit.status).toBe(200);
    const ips = audit.body.events.map((e: { ip: string | null }) => e.ip);
    expect(ips).toHaveLength(hostile.length * 2);
    // A value that is not an address falls back to the socket: the proxy, here the loopback.
    expect(new Set(ips)).toEqual(new Set(['127.0.0.1']));
  });
});

describe('PUBLIC_URL=https://… behind a TLS-terminating proxy, the server itself on plain HTTP', () => {
  let server: RunningServer;
  let alice: { password: string; secret: string };

  beforeAll(async () => {
    server = await startServer({ env: { PUBLIC_URL: PUBLIC, TRUST_PROXY: '1' } });
    const admin = (
      await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password: server.adminPassword },
      })
    ).body.token as string;
    const password = 'alice-behind-the-proxy';
    const created = await call(server.url, 'POST', '/api/admin/users', {
      token: admin,
      body: { username: 'alice', password },
    });
    const configured = await call(server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
      token: admin,
      body: { mfa: { type: 'totp' } },
    });
    alice = { password, secret: configured.body.totp.secret };
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A browser on https://sparekey.example, as the proxy forwards it: its Host, its scheme, its address. */
  function browser() {
    const jar = new Map<string, string>();
    const setCookies: string[] = [];
    const replies: RawReply[] = [];
    const go = async (method: string, path: string, form?: Record<string, string>, extra = {}) => {
      const headers: Record<string, string> = {
        host: 'sparekey.example',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '203.0.113.20',
        accept: 'text/html',
        ...extra,
      };
      if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      let body: string | undefined;
      if (form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers.origin ??= PUBLIC;
        body = new URLSearchParams({ csrf: jar.get('__Host-sparekey_csrf') ?? '', ...form }).toString();
      }
      const reply = await rawRequest(new URL(path, server.url).toString(), { method, headers, body });
      replies.push(reply);
      for (const line of reply.headers.getSetCookie()) {
        setCookies.push(line);
        const [name = '', value = ''] = (line.split(';')[0] ?? '').split('=');
        if (value && !/max-age=0/i.test(line)) jar.set(name, value);
        else jar.delete(name);
      }
      return reply;
    };
    return { go, jar, setCookies, replies };
  }

  it('a full web sign-in works; every cookie is __Host- and Secure, and HSTS is sent', async () => {
    const b = browser();
    expect((await b.go('GET', '/login')).status).toBe(200);
    const afterPassword = await b.go('POST', '/login', { username: 'alice', password: alice.password });
    expect(afterPassword.status).toBe(303);
    expect(afterPassword.headers.get('location')).toBe('/login/mfa');
    expect((await b.go('GET', '/login/mfa')).status).toBe(200);
    const signedIn = await b.go('POST', '/login/mfa', { totp: currentTotp(alice.secret, Date.now()) });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/account');
    const account = await b.go('GET', '/account');
    expect(account.status).toBe(200);
    expect(account.text).toContain('Signed in as alice');
    expect((await b.go('POST', '/logout', {})).headers.get('location')).toBe('/login?notice=signed_out');

    const names = new Set(b.setCookies.map((line) => line.split('=')[0]));
    expect(names).toEqual(
      new Set(['__Host-sparekey_csrf', '__Host-sparekey_mfa', '__Host-sparekey_session']),
    );
    for (const line of b.setCookies) {
      const attributes = line.split(';').map((a) => a.trim().toLowerCase());
      expect(attributes, line).toContain('secure');
      expect(attributes, line).toContain('path=/');
      expect(
        attributes.some((a) => a.startsWith('domain=')),
        line,
      ).toBe(false);
    }
    for (const reply of b.replies) {
      expect(reply.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    }
  });

  it("an application's sign-in and logout: every provider cookie is __Host- (Path=/) or __Secure-, and Secure", async () => {
    const admin = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: server.adminPassword },
    });
    const registered = await call(server.url, 'POST', '/api/admin/applications', {
      token: admin.body.token,
      body: {
        name: 'App behind the proxy',
        type: 'public',
        redirectUris: ['https://app.example/callback'],
        postLogoutRedirectUris: ['https://app.example/bye'],
      },
    });
    expect(registered.status).toBe(201);
    const clientId = registered.body.application.clientId as string;
    const b = browser();
    /** A redirect to PUBLIC_URL, followed as the proxy would pass it on. */
    const follow = (reply: RawReply) => {
      const location = new URL(reply.headers.get('location') ?? '', PUBLIC);
      expect(location.origin).toBe(PUBLIC);
      return b.go('GET', `${location.pathname}${location.search}`);
    };
    const params = new URLSearchParams({
      client_id: clientId,
      redirect_uri: 'https://app.example/callback',
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    const toInteraction = await b.go('GET', `/oidc/auth?${params}`);
    expect(toInteraction.status).toBe(303);
    const continuePage = await follow(toInteraction);
    const uid = new URL(toInteraction.headers.get('location') ?? '', PUBLIC).pathname.split('/').pop();
    const toLogin = await b.go('GET', `/interaction/${uid}/resume`);
    expect(toLogin.headers.get('location')).toBe('/login');
    expect(continuePage.status).toBe(200);
    await b.go('GET', '/login');
    await b.go('POST', '/login', { username: 'alice', password: alice.password });
    await b.go('GET', '/login/mfa');
    // The step after the one the web sign-in test may have used (one step of drift is allowed).
    const signedIn = await b.go('POST', '/login/mfa', {
      totp: currentTotp(alice.secret, Date.now() + 30_000),
    });
    expect(signedIn.headers.get('location')).toBe(`/interaction/${uid}`);
    await b.go('GET', `/interaction/${uid}`);
    const resumed = await b.go('GET', `/interaction/${uid}/resume`);
    const toApp = await follow(resumed);
    expect(toApp.status).toBe(303);
    expect(toApp.headers.get('location')).toMatch(/^https:\/\/app\.example\/callback\?code=/);

    const ask = await b.go('GET', `/oidc/session/end?client_id=${clientId}`);
    expect(ask.text).toContain('Sign out of SpareKey?');
    const xsrf = ask.text.match(/name="xsrf" value="([^"]+)"/)?.[1] ?? '';
    const out = await b.go('POST', '/oidc/session/end/confirm', { xsrf, logout: 'yes' });
    expect(out.status).toBe(303);

    const provider = b.setCookies.filter((line) => !line.includes('sparekey_'));
    const names = new Set(provider.map((line) => line.split('=')[0]));
    expect(names).toEqual(
      new Set([
        '__Host-_session',
        '__Host-_session.sig',
        '__Secure-_interaction',
        '__Secure-_interaction.sig',
        '__Secure-_interaction_resume',
        '__Secure-_interaction_resume.sig',
      ]),
    );
    for (const line of provider) {
      const attributes = line.split(';').map((a) => a.trim().toLowerCase());
      expect(attributes, line).toContain('secure');
      expect(
        attributes.some((a) => a.startsWith('domain=')),
        line,
      ).toBe(false);
      if (line.startsWith('__Host-')) expect(attributes, line).toContain('path=/');
    }
  });

  it("checks a form's Origin against PUBLIC_URL, whatever Host the proxy passes on", async () => {
    // A proxy that rewrites Host to the upstream address: the browser's Origin is still PUBLIC_URL's.
    const rewritten = { host: new URL(server.url).host };
    const b = browser();
    await b.go('GET', '/login', undefined, rewritten);
    const ok = await b.go('POST', '/login', { username: 'alice', password: alice.password }, rewritten);
    expect(ok.headers.get('location')).toBe('/login/mfa');

    const other = browser();
    await other.go('GET', '/login');
    const foreign = await other.go(
      'POST',
      '/login',
      { username: 'alice', password: alice.password },
      { origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    // The page's own origin over plain HTTP is not PUBLIC_URL's either.
    const downgraded = await other.go(
      'POST',
      '/login',
      { username: 'alice', password: alice.password },
      { origin: 'http://sparekey.example' },
    );
    expect(downgraded.status).toBe(403);
  });
});
