/**
 * Item 5: 50 concurrent clients signing in with password + TOTP against the real server for 30 s;
 * and, on the same server, the enumeration check: how long a sign-in for an unknown user takes next
 * to one for a known user with a wrong password (the server hashes a dummy so both cost one argon2id).
 *
 * The accounts are written into the data directory beforehand (./build-store.ts), all with one real
 * argon2id password hash: every sign-in still verifies it at full cost. A TOTP time step is accepted
 * once per account, so each client takes an account that has not signed in during the current step.
 *
 * The same load runs three times in one run: the lowdb server, one server on PostgreSQL, and two
 * servers on one PostgreSQL database with the requests alternating between them (a round-robin load
 * balancer; the password step and the TOTP step of one sign-in land on different instances).
 */
import { rm } from 'node:fs/promises';
import argon2 from 'argon2';
import { type Argon2Params, OWASP_ARGON2 } from '../server/crypto/hasher';
import { currentTotp } from '../server/crypto/totp';
import type { PgCluster } from '../test/support/pg-cluster';
import { call, type RunningServer, startServer } from '../test/support/server';
import { BENCH_STORAGE_KEY, buildPostgres } from './build-postgres';
import { type BuiltUser, buildStore } from './build-store';
import { shippedServer } from './shipped-server';
import { round, type Summary, summarize, timed } from './stats';

const PASSWORD = 'bench-password-123';
const STEP_MS = 30_000;

export interface SignInResult {
  clients: number;
  durationS: number;
  signIns: number;
  perSecond: number;
  latency: Summary;
  errors: number;
  errorKinds: Record<string, number>;
}

export interface EnumerationResult {
  unknownUser: Summary;
  wrongPassword: Summary;
  /** unknown / wrong-password median: 1.0 means indistinguishable. */
  ratio: number;
  sameBody: boolean;
}

export interface SignInComparison {
  load: SignInResult;
  enumeration: EnumerationResult;
  postgres: SignInResult;
  twoInstances: SignInResult;
}

// Wrong passwords in the enumeration check must not trip the per-address brake meant for sprays.
const SERVER_ENV = { IP_FAILURE_LIMIT: '1000000', STORAGE_ENCRYPTION_KEY: BENCH_STORAGE_KEY };

export async function measureSignIn(
  options: { clients: number; durationMs: number; accounts: number; enumerationSamples: number },
  cluster: PgCluster,
  params: Argon2Params = OWASP_ARGON2,
): Promise<SignInComparison> {
  const passwordHash = await argon2.hash(PASSWORD, { type: argon2.argon2id, ...params });
  const built = { users: options.accounts, passwordHash, codes: 0 };
  const { dataDir, users } = await buildStore(built);
  const server = await startServer({ dataDir, env: SERVER_ENV, command: shippedServer() });
  let load: SignInResult;
  let enumeration: EnumerationResult;
  try {
    load = await signInLoad([server], users, options.clients, options.durationMs);
    enumeration = await compareFailures(server, users, options.enumerationSamples);
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  // A fresh database for each load: the accounts' TOTP steps start unused.
  const onPostgres = async (instances: number) => {
    const database = await buildPostgres(cluster, built);
    const env = { ...SERVER_ENV, DATABASE_URL: database.url };
    const servers = await Promise.all(
      Array.from({ length: instances }, () => startServer({ env, command: shippedServer() })),
    );
    try {
      return await signInLoad(servers, database.users, options.clients, options.durationMs);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  };
  const postgres = await onPostgres(1);
  const twoInstances = await onPostgres(2);
  return { load, enumeration, postgres, twoInstances };
}

async function signInLoad(
  servers: RunningServer[],
  users: BuiltUser[],
  clients: number,
  durationMs: number,
): Promise<SignInResult> {
  const lastStep = new Map<string, number>();
  let next = 0;
  const takeAccount = (step: number): BuiltUser | null => {
    for (let tried = 0; tried < users.length; tried++) {
      const user = users[next++ % users.length] as BuiltUser;
      if ((lastStep.get(user.id) ?? -1) < step) {
        lastStep.set(user.id, step);
        return user;
      }
    }
    return null;
  };
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  const fail = (kind: string) => {
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };
  const end = performance.now() + durationMs;
  let turn = 0;
  /** Round-robin over the instances, request by request. */
  const nextUrl = () => (servers[turn++ % servers.length] as RunningServer).url;

  const client = async () => {
    while (performance.now() < end) {
      const now = Date.now();
      const user = takeAccount(Math.floor(now / STEP_MS));
      if (!user) {
        fail('no account left for this TOTP step');
        return;
      }
      const began = performance.now();
      try {
        const login = await call(nextUrl(), 'POST', '/api/auth/login', {
          body: { username: user.username, password: PASSWORD },
        });
        if (login.body?.status !== 'mfa_required') {
          fail(`password step ${login.status} ${login.body?.error?.code ?? login.body?.status}`);
          continue;
        }
        const mfa = await call(nextUrl(), 'POST', '/api/auth/mfa', {
          body: { mfaToken: login.body.mfaToken, method: 'totp', code: currentTotp(user.secret, now) },
        });
        if (mfa.status !== 200) {
          fail(`TOTP step ${mfa.status} ${mfa.body?.error?.code}`);
          continue;
        }
      } catch (error) {
        fail(`network: ${error}`);
        continue;
      }
      latencies.push(performance.now() - began);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const errors = Object.values(errorKinds).reduce((a, b) => a + b, 0);
  return {
    clients,
    durationS: durationMs / 1000,
    signIns: latencies.length,
    perSecond: round(latencies.length / (durationMs / 1000), 1),
    latency: summarize(latencies),
    errors,
    errorKinds,
  };
}

/** One request at a time, alternating, on a server with nothing else to do. */
async function compareFailures(
  server: RunningServer,
  users: BuiltUser[],
  samples: number,
): Promise<EnumerationResult> {
  // A different known account for each sample: ten wrong passwords in a row would lock one account
  // (PASSWORD_LOCKOUT_ATTEMPTS), and a locked account answers before hashing.
  const known = (i: number) => users[i % users.length] as BuiltUser;
  const unknown: number[] = [];
  const wrong: number[] = [];
  const bodies = new Set<string>();
  const attempt = async (username: string, into: number[]) => {
    let body = '';
    into.push(
      await timed(async () => {
        const res = await call(server.url, 'POST', '/api/auth/login', {
          body: { username, password: 'not-the-password' },
        });
        body = `${res.status} ${JSON.stringify(res.body)}`;
      }),
    );
    bodies.add(body);
  };
  for (let i = 0; i < 3; i++) await attempt(known(samples + i).username, []);
  for (let i = 0; i < samples; i++) {
    await attempt(`nobody-${i}`, unknown);
    await attempt(known(i).username, wrong);
  }
  const unknownUser = summarize(unknown);
  const wrongPassword = summarize(wrong);
  return {
    unknownUser,
    wrongPassword,
    ratio: round(unknownUser.median / wrongPassword.median, 3),
    sameBody: bodies.size === 1,
  };
}
