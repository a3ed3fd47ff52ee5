/**
 * Prometheus metrics of the real server (METRICS_PORT): scraped over HTTP, parsed with a Prometheus
 * text parser, and checked to move by exactly the sign-ins performed between two scrapes. One suite,
 * run on each store (test/server/metrics.test.ts: lowdb; test/postgres/metrics.test.ts: PostgreSQL).
 */
import { Readable } from 'node:stream';
import { getMetricsFromStream, type PromHistogramData, type PromMetrics } from 'prom2javascript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { call, type RunningServer, startServer } from './server';

export async function scrape(url: string): Promise<{ text: string; metrics: PromMetrics }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, metrics: await getMetricsFromStream(Readable.from([text])) };
}

/** The value of one counter or gauge series (0 when absent). */
export function value(metrics: PromMetrics, name: string, labels: Record<string, string> = {}): number {
  const family = metrics[name];
  const series = (family?.data as { labels: Record<string, string>; value: number }[] | undefined)?.find(
    (s) => Object.entries(labels).every(([key, v]) => s.labels[key] === v),
  );
  return series?.value ?? 0;
}

/** The observation count of one histogram series (0 when absent). */
function observations(metrics: PromMetrics, name: string, labels: Record<string, string>): number {
  const series = (metrics[name]?.data as PromHistogramData[] | undefined)?.find((s) =>
    Object.entries(labels).every(([key, v]) => s.labels[key] === v),
  );
  return series?.count ?? 0;
}

/** Where a server started with METRICS_PORT serves its metrics (it logs the address once bound). */
export function metricsUrlOf(server: RunningServer): string {
  const line = server
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"metrics listening"'));
  return JSON.parse(line ?? '{}').url;
}

/** `environment`: what the server runs on besides the metrics settings (empty: lowdb in a temp DATA_DIR). */
export function metricsSuite(storeName: string, environment: () => Promise<Record<string, string>>) {
  describe(`GET /metrics on METRICS_PORT (${storeName})`, () => {
    let server: RunningServer;
    let metricsUrl: string;
    let admin: string;
    const secrets: string[] = [];

    const login = (username: string, password: string) =>
      call(server.url, 'POST', '/api/auth/login', { body: { username, password } });
    const mfa = (mfaToken: string, method: string, code: string) =>
      call(server.url, 'POST', '/api/auth/mfa', { body: { mfaToken, method, code } });

    async function userWithTotp(username: string, password: string) {
      const created = await call(server.url, 'POST', '/api/admin/users', {
        token: admin,
        body: { username, password },
      });
      const configured = await call(server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
        token: admin,
        body: { mfa: { type: 'totp' } },
      });
      secrets.push(password, configured.body.totp.secret);
      return configured.body.totp.secret as string;
    }

    beforeAll(async () => {
      server = await startServer({
        env: {
          ...(await environment()),
          METRICS_PORT: '0',
          MFA_LOCKOUT_ATTEMPTS: '3',
          PASSWORD_LOCKOUT_ATTEMPTS: '3',
        },
      });
      metricsUrl = metricsUrlOf(server);
      admin = (await login('admin', server.adminPassword)).body.token;
      secrets.push(admin, server.adminPassword);
      await call(server.url, 'PUT', '/api/admin/policy', {
        token: admin,
        body: {
          mfaUsage: 'optional_per_user',
          backupCodes: { enabled: true, count: 3, warnWhenRemaining: 1 },
        },
      });
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });

    it('is served on loopback at the logged address, and never on the public port', async () => {
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(new URL(metricsUrl).port).not.toBe(new URL(server.url).port);
      const publicRes = await call(server.url, 'GET', '/metrics');
      expect(publicRes.status).toBe(404);
      expect(publicRes.body.error.code).toBe('not_found');
      const elsewhere = await fetch(new URL('/', metricsUrl));
      expect(elsewhere.status).toBe(404);
    });

    it('counts exactly the sign-ins, codes, lockouts and sessions performed', async () => {
      const aliceSecret = await userWithTotp('alice', 'alice-password-123');
      const bobSecret = await userWithTotp('bob', 'bob-password-123');
      const carolSecret = await userWithTotp('carol', 'carol-password-123');
      // alice signs in once with her authenticator and generates three codes.
      const aliceChallenge = (await login('alice', 'alice-password-123')).body.mfaToken;
      const aliceSession = (await mfa(aliceChallenge, 'totp', currentTotp(aliceSecret, Date.now()))).body
        .token;
      const generated = await call(server.url, 'POST', '/api/me/backup-codes', {
        token: aliceSession,
        body: { password: 'alice-password-123' },
      });
      const codes = (generated.body.codes as { code: string }[]).map((c) => c.code);
      secrets.push(aliceSession, ...codes);

      const before = await scrape(metricsUrl);
      const auditBefore = (await call(server.url, 'GET', '/api/admin/audit?limit=1', { token: admin })).body
        .events[0].id;

      // carol: password + TOTP, then signs out.
      const carol = await mfa(
        (await login('carol', 'carol-password-123')).body.mfaToken,
        'totp',
        currentTotp(carolSecret, Date.now()),
      );
      expect(carol.status).toBe(200);
      expect((await call(server.url, 'POST', '/api/auth/logout', { token: carol.body.token })).status).toBe(
        204,
      );
      // alice: two backup codes.
      for (const code of codes.slice(0, 2)) {
        const res = await mfa(
          (await login('alice', 'alice-password-123')).body.mfaToken,
          'backup_code',
          code,
        );
        expect(res.status).toBe(200);
      }
      // Failures: a wrong password, an unknown user, a wrong TOTP code and a wrong backup code.
      expect((await login('alice', 'not-alices-password')).status).toBe(401);
      expect((await login('nobody-here', 'whatever-password')).status).toBe(401);
      const challenge = (await login('alice', 'alice-password-123')).body.mfaToken;
      const wrongTotp = currentTotp(aliceSecret, Date.now() + 10 * 60_000);
      expect((await mfa(challenge, 'totp', wrongTotp)).status).toBe(401);
      const wrongCode = codes[2]?.replace(/^./, (c) => (c === '2' ? '3' : '2')) ?? '';
      expect((await mfa(challenge, 'backup_code', wrongCode)).status).toBe(401);
      // bob: three wrong codes lock his MFA step.
      const bobChallenge = (await login('bob', 'bob-password-123')).body.mfaToken;
      const bobWrong = currentTotp(bobSecret, Date.now() + 10 * 60_000);
      const bobResults = [];
      for (let i = 0; i < 3; i++) bobResults.push((await mfa(bobChallenge, 'totp', bobWrong)).status);
      expect(bobResults).toEqual([401, 401, 429]);
      // dave: three wrong passwords lock his password step (PASSWORD_LOCKOUT_ATTEMPTS=3); the admin unlocks him.
      const dave = await call(server.url, 'POST', '/api/admin/users', {
        token: admin,
        body: { username: 'dave', password: 'dave-password-123' },
      });
      secrets.push('dave-password-123');
      const daveResults = [];
      for (let i = 0; i < 3; i++) daveResults.push((await login('dave', 'not-daves-password')).status);
      expect(daveResults).toEqual([401, 401, 429]);
      const unlocked = await call(server.url, 'POST', `/api/admin/users/${dave.body.user.id}/unlock`, {
        token: admin,
      });
      expect(unlocked.status).toBe(200);

      const after = await scrape(metricsUrl);
      const moved = (name: string, labels: Record<string, string> = {}) =>
        value(after.metrics, name, labels) - value(before.metrics, name, labels);
      const signIns = (method: string, outcome: string) =>
        moved('sparekey_sign_ins_total', { method, outcome });
      expect(signIns('totp', 'success')).toBe(1);
      expect(signIns('backup_code', 'success')).toBe(2);
      expect(signIns('password', 'success')).toBe(0);
      expect(signIns('password', 'failure')).toBe(5);
      expect(signIns('totp', 'failure')).toBe(4);
      expect(signIns('backup_code', 'failure')).toBe(1);
      expect(moved('sparekey_backup_codes_used_total')).toBe(2);
      expect(moved('sparekey_lockouts_total', { step: 'mfa', until: 'timed' })).toBe(1);
      expect(moved('sparekey_lockouts_total', { step: 'password', until: 'timed' })).toBe(1);
      expect(moved('sparekey_lockouts_total', { step: 'password', until: 'admin' })).toBe(0);
      expect(moved('sparekey_unlocks_total', { by: 'admin' })).toBe(1);
      expect(moved('sparekey_sessions_started_total')).toBe(3);
      expect(moved('sparekey_sign_outs_total')).toBe(1);

      // argon2id: one password check per /api/auth/login (10), one digest per backup code tried (3).
      const hashes = (operation: string) =>
        observations(after.metrics, 'sparekey_argon2_duration_seconds', { operation }) -
        observations(before.metrics, 'sparekey_argon2_duration_seconds', { operation });
      expect(hashes('verify_password')).toBe(10);
      expect(hashes('code_digest')).toBe(3);
      expect(value(after.metrics, 'sparekey_argon2_queue_waiting')).toBe(0);
      expect(value(after.metrics, 'sparekey_argon2_running')).toBe(0);

      // Each audit event recorded in between was counted above, whether it was appended alone or
      // committed with the lockout of the failure it records (UserChange.audit): the 11 failures
      // and locks of known accounts (alice 3, bob 3, dave 3 and 2 locks) cost no append of their own.
      const audit = await call(server.url, 'GET', '/api/admin/audit?limit=100', { token: admin });
      const ids = (audit.body.events as { id: string }[]).map((e) => e.id);
      const recorded = ids.indexOf(auditBefore);
      expect(recorded).toBeGreaterThan(10);
      const appends = (m: PromMetrics) =>
        observations(m, 'sparekey_store_write_duration_seconds', { operation: 'appendAudit' });
      expect(appends(after.metrics) - appends(before.metrics)).toBe(recorded - 11);

      // Node's own process metrics are there.
      expect(value(after.metrics, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(after.metrics.nodejs_eventloop_lag_seconds?.type).toBe('gauge');

      // Nothing that names a person, an address or a secret.
      for (const text of [before.text, after.text]) {
        for (const word of [
          'alice',
          'bob',
          'carol',
          'dave',
          'nobody-here',
          '127.0.0.1',
          ...secrets,
          ...codes,
        ]) {
          expect(text.includes(word), `metrics mention ${word}`).toBe(false);
        }
      }
    });

    it('counts the users whose codes fell to the warning count (recounted every few seconds)', async () => {
      // alice spent two of three codes; the policy warns at one left.
      await expect
        .poll(async () => value((await scrape(metricsUrl)).metrics, 'sparekey_users_low_on_backup_codes'), {
          timeout: 20_000,
          interval: 1000,
        })
        .toBe(1);
    });
  });
}
