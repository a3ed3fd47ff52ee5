/**
 * The database stopped in the middle of a sign-in load and started again, under the real server:
 * nothing is answered 500 and no request hangs (503 with Retry-After while it is down), every spend
 * acknowledged with 200 is spent afterwards, and sign-ins succeed again within seconds of the restart
 * without touching the server. Runs on a cluster of its own, since it stops it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  type BenchUser,
  createTotpUser,
  enableBackupCodes,
  generateCodes,
  signInWithTotp,
  startMfa,
} from '../../bench/accounts';
import { type PgCluster, startCluster } from '../support/pg-cluster';
import { call, type RunningServer, startServer } from '../support/server';
import { clusterUrl } from './databases';
import { postgresEnv } from './servers';

interface Code {
  user: BenchUser;
  session: string;
  number: number;
  code: string;
}

interface Answer {
  status: number;
  ms: number;
  at: number;
  retryAfter: string | null;
  code: string | undefined;
}

const STATEMENT_TIMEOUT_MS = 2000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the database stopped and started under a sign-in load', () => {
  let cluster: PgCluster;
  let server: RunningServer;
  const codes: Code[] = [];

  beforeAll(async () => {
    // Fails with the install command where PostgreSQL is missing, like every test here.
    clusterUrl();
    cluster = await startCluster();
    server = await startServer({
      env: postgresEnv(cluster.url(), { DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS) }),
    });
    const admin = await adminToken(server);
    await enableBackupCodes(server, admin, 20);
    for (let i = 0; i < 10; i++) {
      const user = await createTotpUser(server, admin, `loaded${i}`);
      const session = await signInWithTotp(server, user);
      const generated = await generateCodes(server, user, session);
      codes.push(...generated.map((code, n) => ({ user, session, number: n + 1, code })));
    }
  });
  afterAll(async () => {
    await server?.stop();
    await cluster?.destroy();
  });

  it('answers 503 (never 500) while it is down, loses no acknowledged spend, and recovers by itself', async () => {
    const queue = [...codes];
    const answers: Answer[] = [];
    const acknowledged: Code[] = [];
    let running = true;
    const timed = async (path: string, body: unknown) => {
      const started = performance.now();
      const res = await call(server.url, 'POST', path, { body });
      answers.push({
        status: res.status,
        ms: performance.now() - started,
        at: Date.now(),
        retryAfter: res.headers.get('retry-after'),
        code: res.body?.error?.code,
      });
      return res;
    };
    const worker = async () => {
      while (running) {
        const item = queue.shift();
        if (!item) throw new Error('the load ran out of codes');
        const login = await timed('/api/auth/login', {
          username: item.user.username,
          password: item.user.password,
        });
        if (login.status !== 200) {
          // The code was not tried: it goes back for a later attempt.
          queue.push(item);
        } else {
          const mfa = await timed('/api/auth/mfa', {
            mfaToken: login.body.mfaToken,
            method: 'backup_code',
            code: item.code,
          });
          // A code whose answer was not 200 is not tried again: it may or may not have been spent.
          if (mfa.status === 200) acknowledged.push(item);
        }
        await sleep(150);
      }
    };
    const workers = Array.from({ length: 6 }, worker);

    await sleep(1500);
    const stoppedAt = Date.now();
    await cluster.stop('fast');
    await sleep(2500);
    const down = await call(server.url, 'GET', '/healthz');
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('unavailable');
    // Readiness takes the instance out of a balancer; liveness does not ask for a restart.
    const notReady = await call(server.url, 'GET', '/healthz/ready');
    expect(notReady.status).toBe(503);
    expect(notReady.headers.get('retry-after')).toBe('5');
    expect(notReady.body.error.code).toBe('unavailable');
    expect((await call(server.url, 'GET', '/healthz/live')).status).toBe(200);
    await cluster.start();
    const restartedAt = Date.now();
    // Load continues until sign-ins have succeeded again for a while.
    const deadline = restartedAt + 20_000;
    while (Date.now() < deadline) {
      const since = answers.filter((a) => a.at > restartedAt && a.status === 200).length;
      if (since >= 10) break;
      await sleep(100);
    }
    running = false;
    await Promise.all(workers);

    const statuses = new Set(answers.map((answer) => answer.status));
    expect([...statuses].sort()).toEqual([200, 503]);
    for (const answer of answers.filter((a) => a.status === 503)) {
      expect(answer.code).toBe('unavailable');
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    }
    // Bounded: no request waited much beyond the statement timeout.
    expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(3 * STATEMENT_TIMEOUT_MS);
    expect(answers.some((a) => a.status === 200 && a.at < stoppedAt)).toBe(true);
    expect(answers.some((a) => a.status === 503)).toBe(true);
    const firstAfter = answers.find((a) => a.at > restartedAt && a.status === 200);
    expect(firstAfter, 'no sign-in succeeded after the restart').toBeDefined();
    expect((firstAfter?.at ?? Number.POSITIVE_INFINITY) - restartedAt).toBeLessThan(10_000);
    expect(server.process.exitCode).toBeNull();

    // Every acknowledged spend is spent: the server says so, and refuses the code again.
    const usedByUser = new Map<string, number[]>();
    for (const item of codes) {
      if (usedByUser.has(item.user.id)) continue;
      const me = await call(server.url, 'GET', '/api/me', { token: item.session });
      expect(me.status).toBe(200);
      usedByUser.set(item.user.id, me.body.backupCodes.used);
    }
    for (const item of acknowledged) expect(usedByUser.get(item.user.id)).toContain(item.number);
    const again = acknowledged.at(-1) as Code;
    const replay = await call(server.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await startMfa(server, again.user), method: 'backup_code', code: again.code },
    });
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('code_already_used');
    expect((await call(server.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(server.url, 'GET', '/healthz/ready')).status).toBe(200);
  });
});
