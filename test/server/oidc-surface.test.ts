/**
 * What the OpenID Connect provider exposes to anyone, against the real server (lowdb): a flood of
 * anonymous requests, cross-origin calls, the endpoints it does not offer, and the access log of its
 * answers (written on the raw Node response, not through hono).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type RunningServer, startServer } from '../support/server';

const APP_ORIGIN = 'https://app.example';

interface Registered {
  clientId: string;
  clientSecret: string;
}

async function register(server: RunningServer): Promise<Registered> {
  const admin = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  const created = await call(server.url, 'POST', '/api/admin/applications', {
    token: admin.body.token,
    body: {
      name: 'Surface app',
      type: 'confidential',
      redirectUris: [`${APP_ORIGIN}/callback`],
      postLogoutRedirectUris: [`${APP_ORIGIN}/bye`],
    },
  });
  expect(created.status).toBe(201);
  return { clientId: created.body.application.clientId, clientSecret: created.body.clientSecret };
}

/** The provider records on disk (lowdb), each as stored: model and expiry. */
async function storedRecords(dataDir: string): Promise<{ model: string; expiresAt: number | null }[]> {
  const dir = join(dataDir, 'oidc', 'records');
  const files = (await readdir(dir)).filter((file) => file.endsWith('.json') && !file.startsWith('.'));
  return Promise.all(files.map(async (file) => JSON.parse(await readFile(join(dir, file), 'utf8'))));
}

/** The access-log lines the server wrote for `method path`. */
function logLines(server: RunningServer, method: string, path: string): { status: number }[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.msg === 'request' && entry.method === method && entry.path === path);
}

describe('anonymous requests to the provider', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('500 logouts without a cookie: 60 a minute are answered, the rest 429 with Retry-After; what they store expires within 10 minutes', async () => {
    const statuses: number[] = [];
    const retryAfters = new Set<string | null>();
    for (let round = 0; round < 50; round++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${server.url}/oidc/session/end`, { headers: { accept: 'text/html' } }),
        ),
      );
      for (const answer of answers) {
        statuses.push(answer.status);
        if (answer.status === 429) retryAfters.add(answer.headers.get('retry-after'));
        await answer.text();
      }
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(60);
    expect(statuses.filter((status) => status === 429)).toHaveLength(440);
    for (const value of retryAfters) {
      expect(Number(value)).toBeGreaterThan(0);
      expect(Number(value)).toBeLessThanOrEqual(60);
    }

    const sessions = (await storedRecords(server.dataDir)).filter((record) => record.model === 'Session');
    expect(sessions.length).toBeLessThanOrEqual(60);
    for (const session of sessions) expect(session.expiresAt).toBeLessThanOrEqual(Date.now() + 10 * 60_000);
    // Every answer was logged with the status the client got (the provider's 200 pages included).
    const logged = logLines(server, 'GET', '/oidc/session/end').map((line) => line.status);
    expect(logged.filter((status) => status === 200)).toHaveLength(60);
    expect(logged.filter((status) => status === 429)).toHaveLength(440);
  });
});

describe('what the provider offers, and to whom', () => {
  let server: RunningServer;
  let app: Registered;
  beforeAll(async () => {
    server = await startServer();
    app = await register(server);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const token = (origin?: string) =>
    fetch(`${server.url}/oidc/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
        ...(origin ? { origin } : {}),
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'not-a-code',
        redirect_uri: `${APP_ORIGIN}/callback`,
      }),
    });

  it('answers CORS on token and userinfo to the application’s own origin only; discovery and JWKS to anyone; authorization and logout to nobody', async () => {
    const own = await token(APP_ORIGIN);
    expect(own.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect((await own.json()).error).toBe('invalid_grant');

    const foreign = await token('https://evil.example');
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect(foreign.status).toBe(400);
    expect((await foreign.json()).error).toBe('invalid_request');

    const userinfo = await fetch(`${server.url}/oidc/me`, {
      headers: { authorization: 'Bearer not-a-token', origin: 'https://evil.example' },
    });
    expect(userinfo.headers.get('access-control-allow-origin')).toBeNull();
    expect(userinfo.status).toBe(401);

    for (const path of ['/.well-known/openid-configuration', '/oidc/jwks']) {
      const open = await fetch(`${server.url}${path}`, { headers: { origin: 'https://any.example' } });
      expect(open.status, path).toBe(200);
      expect(open.headers.get('access-control-allow-origin'), path).toBe('https://any.example');
    }
    const params = new URLSearchParams({
      client_id: app.clientId,
      redirect_uri: `${APP_ORIGIN}/callback`,
      response_type: 'code',
      scope: 'openid',
    });
    for (const path of [`/oidc/auth?${params}`, '/oidc/session/end']) {
      const navigation = await fetch(`${server.url}${path}`, {
        headers: { origin: APP_ORIGIN },
        redirect: 'manual',
      });
      expect(navigation.headers.get('access-control-allow-origin'), path).toBeNull();
    }
  });

  it('the provider’s own answers carry the security headers and a request id; the token endpoint keeps its own no-store', async () => {
    const ids = new Set<string | null>();
    const answers = [
      await fetch(`${server.url}/.well-known/openid-configuration`),
      await fetch(`${server.url}/oidc/jwks`),
      await token(APP_ORIGIN),
    ];
    for (const answer of answers) {
      const what = answer.url;
      expect(answer.headers.get('content-security-policy'), what).toContain("frame-ancestors 'none'");
      expect(answer.headers.get('x-frame-options'), what).toBe('DENY');
      expect(answer.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(answer.headers.get('referrer-policy'), what).toBe('no-referrer');
      expect(answer.headers.get('cache-control'), what).toContain('no-store');
      ids.add(answer.headers.get('x-request-id'));
    }
    expect([...ids].every((id) => /^[0-9a-f-]{36}$/.test(id ?? ''))).toBe(true);
    expect(ids.size).toBe(answers.length);
  });

  it('has no pushed-authorization-request endpoint: not in discovery, 404 at its path', async () => {
    const discovery = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
    expect(discovery).not.toHaveProperty('pushed_authorization_request_endpoint');
    const pushed = await fetch(`${server.url}/oidc/request`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        response_type: 'code',
        redirect_uri: `${APP_ORIGIN}/callback`,
        scope: 'openid',
      }),
    });
    expect(pushed.status).toBe(404);
    await pushed.text();
  });

  it('answers what it does not take in OAuth’s error shape; a form posted to authorization or logout is told to use GET', async () => {
    for (const [method, path] of [
      ['GET', '/oidc/no-such-endpoint'],
      ['GET', '/oidc'],
      ['PUT', '/oidc/token'],
      ['DELETE', '/oidc/jwks'],
    ] as const) {
      const answer = await fetch(`${server.url}${path}`, { method });
      expect(answer.status, path).toBe(404);
      expect(answer.headers.get('content-type'), path).toMatch(/^application\/json/);
      expect(await answer.json(), path).toEqual({
        error: 'invalid_request',
        error_description: `unrecognized route or not allowed method (${method} on ${path})`,
      });
    }

    // An application set to post its requests as a form (oidc-provider 9 takes them by GET only).
    const form = new URLSearchParams({
      client_id: app.clientId,
      redirect_uri: `${APP_ORIGIN}/callback`,
      response_type: 'code',
      scope: 'openid',
      post_logout_redirect_uri: `${APP_ORIGIN}/bye`,
    });
    for (const path of ['/oidc/auth', '/oidc/session/end']) {
      const post = (accept: string) =>
        fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept },
          body: form,
          redirect: 'manual',
        });
      const client = await post('application/json');
      expect(client.status, path).toBe(405);
      expect(client.headers.get('allow'), path).toBe('GET, HEAD');
      expect(await client.json(), path).toEqual({
        error: 'invalid_request',
        error_description: `${path} takes GET requests only, not POST`,
      });
      const browser = await post('text/html');
      expect(browser.status, path).toBe(405);
      expect(browser.headers.get('location'), path).toBeNull();
      expect(browser.headers.get('content-security-policy'), path).toContain("default-src 'none'");
      const page = await browser.text();
      expect(page, path).toContain('This request was refused');
      expect(page, path).toContain('not as a form post');
    }
  });

  it('offers no DPoP: not in discovery, and userinfo without a token answers 401 with a Bearer challenge only', async () => {
    const discovery = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
    expect(discovery).not.toHaveProperty('dpop_signing_alg_values_supported');
    const userinfo = await fetch(`${server.url}/oidc/me`);
    expect(userinfo.status).toBe(401);
    expect((await userinfo.json()).error).toBe('invalid_token');
    const challenge = userinfo.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer realm=/);
    expect(challenge).not.toContain('DPoP');
  });

  it('logs the status the client got from the provider, not hono’s placeholder 200', async () => {
    const refused = await fetch(`${server.url}/oidc/auth?client_id=nobody`, {
      headers: { accept: 'text/html' },
    });
    expect(refused.status).toBe(400);
    await refused.text();
    const missing = await fetch(`${server.url}/oidc/nothing-here`);
    expect(missing.status).toBe(404);
    await missing.text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(logLines(server, 'GET', '/oidc/auth').at(-1)?.status).toBe(400);
    expect(logLines(server, 'GET', '/oidc/nothing-here').map((line) => line.status)).toEqual([404]);
  });
});
