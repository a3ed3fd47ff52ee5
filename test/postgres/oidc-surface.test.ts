/**
 * The OpenID Connect provider on PostgreSQL, against the real server: a flood of anonymous logouts
 * leaves only short-lived rows, and with the database stopped every provider endpoint answers 503
 * with Retry-After (never oidc-provider's 500), the access log says so, and the provider's
 * server_error is logged. Runs on a cluster of its own, since it stops it.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, startCluster } from '../support/pg-cluster';
import { call, type RunningServer, startServer } from '../support/server';
import { clusterUrl } from './databases';
import { postgresEnv } from './servers';

const APP_ORIGIN = 'https://app.example';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('the provider on PostgreSQL', () => {
  let cluster: PgCluster;
  let server: RunningServer;
  let clientId: string;
  let clientSecret: string;

  beforeAll(async () => {
    clusterUrl();
    cluster = await startCluster();
    // Behind a (simulated) proxy, so that the flood below comes from a client address of its own.
    server = await startServer({
      env: postgresEnv(cluster.url(), { DATABASE_STATEMENT_TIMEOUT_MS: '2000', TRUST_PROXY: '1' }),
    });
    const admin = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'admin', password: server.adminPassword },
    });
    const created = await call(server.url, 'POST', '/api/admin/applications', {
      token: admin.body.token,
      body: {
        name: 'Outage app',
        type: 'confidential',
        redirectUris: [`${APP_ORIGIN}/callback`],
        postLogoutRedirectUris: [`${APP_ORIGIN}/bye`],
      },
    });
    expect(created.status).toBe(201);
    clientId = created.body.application.clientId;
    clientSecret = created.body.clientSecret;
  });
  afterAll(async () => {
    await server?.stop();
    await cluster?.destroy();
  });

  it('500 anonymous logouts: at most 60 rows, each expiring within 10 minutes; the rest 429', async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 50; round++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${server.url}/oidc/session/end`, {
            headers: { accept: 'text/html', 'x-forwarded-for': '198.51.100.23' },
          }),
        ),
      );
      for (const answer of answers) {
        statuses.push(answer.status);
        if (answer.status === 429) expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
        await answer.text();
      }
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(60);
    expect(statuses.filter((status) => status === 429)).toHaveLength(440);
    const [rows] = await query<{ count: string; late: string }>(
      cluster.url(),
      `SELECT count(*) AS count,
              count(*) FILTER (WHERE expires_at IS NULL OR expires_at > now() + interval '10 minutes') AS late
         FROM oidc_records WHERE model = 'Session'`,
    );
    expect(Number(rows?.count)).toBeLessThanOrEqual(60);
    expect(Number(rows?.late)).toBe(0);
  });

  it('with the database stopped, every provider endpoint answers 503 with Retry-After, and the log says 503', async () => {
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    const auth = new URLSearchParams({
      client_id: clientId,
      redirect_uri: `${APP_ORIGIN}/callback`,
      response_type: 'code',
      scope: 'openid',
    });
    const endpoints: { path: string; init: RequestInit; page: boolean }[] = [
      { path: '/.well-known/openid-configuration', init: {}, page: false },
      { path: '/oidc/jwks', init: {}, page: false },
      { path: `/oidc/auth?${auth}`, init: { headers: { accept: 'text/html' } }, page: true },
      {
        path: '/oidc/token',
        init: {
          method: 'POST',
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'r' }).toString(),
        },
        page: false,
      },
      { path: '/oidc/me', init: { headers: { authorization: 'Bearer some-access-token' } }, page: false },
      { path: '/oidc/session/end', init: { headers: { accept: 'text/html' } }, page: true },
    ];
    // Up, each answers as usual (and the provider is built, its key set read).
    for (const { path, init } of endpoints) {
      const up = await fetch(`${server.url}${path}`, { ...init, redirect: 'manual' });
      await up.text();
      expect(up.status, path).toBeLessThan(500);
    }

    await cluster.stop('fast');
    try {
      for (const { path, init, page } of endpoints) {
        const down = await fetch(`${server.url}${path}`, { ...init, redirect: 'manual' });
        const body = await down.text();
        expect(down.status, path).toBe(503);
        expect(down.headers.get('retry-after'), path).toBe('5');
        if (page) {
          expect(body, path).toContain('Please try again in a moment');
        } else {
          expect(JSON.parse(body), path).toMatchObject({ error: 'temporarily_unavailable' });
        }
      }
    } finally {
      await cluster.start();
    }

    const log = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const { path, init } of endpoints) {
      const bare = path.split('?')[0];
      const last = log
        .filter(
          (entry) =>
            entry.msg === 'request' && entry.path === bare && entry.method === (init.method ?? 'GET'),
        )
        .at(-1);
      expect(last?.status, path).toBe(503);
    }
    const serverErrors = log.filter((entry) => entry.msg === 'oidc server error');
    expect(serverErrors.length).toBeGreaterThan(0);
    for (const entry of serverErrors) {
      expect(String(entry.error)).toMatch(/^StoreUnavailableError/);
      expect(JSON.stringify(entry)).not.toContain('some-access-token');
      expect(JSON.stringify(entry)).not.toContain(clientSecret);
    }

    // Back up: served again without touching the server.
    let again = 0;
    for (let i = 0; i < 40 && again !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const res = await fetch(`${server.url}/oidc/jwks`);
      await res.text();
      again = res.status;
    }
    expect(again).toBe(200);
  });

  it('with the database stopped, a sign-in page of an application says to try again (503), not that it expired', async () => {
    const auth = new URLSearchParams({
      client_id: clientId,
      redirect_uri: `${APP_ORIGIN}/callback`,
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    const started = await fetch(`${server.url}/oidc/auth?${auth}`, { redirect: 'manual' });
    await started.text();
    const location = started.headers.get('location') ?? '';
    expect(location).toMatch(/\/interaction\/[^/]+$/);
    const cookie = started.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .join('; ');
    const page = new URL(location, server.url).toString();
    const up = await fetch(page, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
    await up.text();
    expect(up.status).toBe(200);

    await cluster.stop('fast');
    try {
      const down = await fetch(page, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
      const body = await down.text();
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBeTruthy();
      expect(body).toContain('Please try again in a moment');
      expect(body).not.toContain('expired');
    } finally {
      await cluster.start();
    }
  });
});
