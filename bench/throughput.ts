/**
 * Item 3: sustained MFA verifications per second over HTTP, each a wrong backup code (one argon2id
 * evaluation), while a probe measures how long GET /healthz takes: the event loop must stay responsive.
 *
 * The brakes on guessing are set aside so that every attempt is hashed: MFA_LOCKOUT_ATTEMPTS is at its
 * maximum and spread over many accounts, and each client claims a new address (X-Forwarded-For with
 * TRUST_PROXY=1) before the per-address limit would stop it, like a guesser spread over many machines.
 */
import { generateCode } from '../shared/codes';
import { type RunningServer, startServer } from '../test/support/server';
import {
  adminToken,
  type BenchUser,
  createTotpUser,
  eachLimit,
  enableBackupCodes,
  generateCodes,
  signInWithTotp,
  startMfa,
} from './accounts';
import { type CpuWindow, cpuWindow } from './cpu';
import { LoadClient } from './load-client';
import { shippedServer } from './shipped-server';
import { round, type Summary, summarize, timed } from './stats';

export interface ThroughputOptions {
  clients: number;
  warmupMs: number;
  durationMs: number;
  accounts: number;
  /** How often the /healthz probe asks. */
  probeEveryMs: number;
}

export interface ThroughputResult {
  clients: number;
  /** The load before the window, not counted in its rate. */
  warmupS: number;
  durationS: number;
  verifications: number;
  perSecond: number;
  attempt: Summary;
  healthz: Summary;
  /** Responses other than the expected 401 invalid_code, by status. */
  errors: Record<string, number>;
  /** Accounts that used up their attempts. */
  exhaustedAccounts: number;
  /**
   * Every account was used up before the window ended: the clients stopped early and the rate
   * under-counts. A run like that proves nothing (row 3 says so instead of a rate).
   */
  ranOut: boolean;
  /** Where the machine's CPU went during the window. */
  cpu: CpuWindow | null;
  /**
   * The same during the warm-up before the window, with the verifications completed in it: what the
   * server costs while its just-in-time compiler is still compiling the sign-in path.
   */
  warmup: { verifications: number; cpu: CpuWindow | null };
}

/** Stays under MFA_LOCKOUT_ATTEMPTS=100 in one window, so no account locks during the run. */
export const ATTEMPTS_PER_ACCOUNT = 95;
/** Stays under the default IP_FAILURE_LIMIT (100). */
const ATTEMPTS_PER_ADDRESS = 90;

/**
 * `nodeArgs` go to the server's node before its script: `--cpu-prof --cpu-prof-dir=/tmp/…` profiles
 * the server under this load (BENCH_SERVER_CPU_PROF, bench/row3.ts); node refuses them in NODE_OPTIONS.
 */
export async function measureThroughput(
  options: ThroughputOptions,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
) {
  const server = await startServer({
    // The accounts are all set up from one address: room for each one's set of codes.
    env: { MFA_LOCKOUT_ATTEMPTS: '100', TRUST_PROXY: '1', CHANGE_LIMIT_PER_ADDRESS: '1000', ...env },
    command: shippedServer(nodeArgs),
  });
  try {
    return await runThroughput(server, options);
  } finally {
    await server.stop();
  }
}

interface Target {
  user: BenchUser;
  mfaToken: string;
  attempts: number;
}

async function prepare(server: RunningServer, accounts: number): Promise<Target[]> {
  const admin = await adminToken(server);
  await enableBackupCodes(server, admin);
  const targets: Target[] = [];
  await eachLimit(
    Array.from({ length: accounts }, (_, i) => i),
    4,
    async (i) => {
      const user = await createTotpUser(server, admin, `load${i}`);
      const session = await signInWithTotp(server, user);
      // A set must exist: without one, a backup-code attempt is refused before any hashing.
      await generateCodes(server, user, session);
      targets.push({ user, mfaToken: await startMfa(server, user), attempts: 0 });
    },
  );
  return targets;
}

export async function runThroughput(
  server: RunningServer,
  options: ThroughputOptions,
): Promise<ThroughputResult> {
  const targets = await prepare(server, options.accounts);
  const errors: Record<string, number> = {};
  const attemptTimes: number[] = [];
  const probeTimes: number[] = [];
  let verifications = 0;
  let warmupVerifications = 0;
  let nextTarget = 0;
  let addressSerial = 0;
  let exhausted = false;

  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;

  const takeTarget = (): Target | null => {
    for (let tried = 0; tried < targets.length; tried++) {
      const target = targets[nextTarget++ % targets.length] as Target;
      if (target.attempts < ATTEMPTS_PER_ACCOUNT) {
        target.attempts++;
        return target;
      }
    }
    exhausted = true;
    return null;
  };

  const client = async () => {
    let address = '';
    let addressUses = ATTEMPTS_PER_ADDRESS;
    while (performance.now() < end) {
      const target = takeTarget();
      if (!target) return;
      if (addressUses++ >= ATTEMPTS_PER_ADDRESS) {
        const n = addressSerial++;
        address = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
        addressUses = 1;
      }
      const began = performance.now();
      const res = await load
        .post(
          '/api/auth/mfa',
          { mfaToken: target.mfaToken, method: 'backup_code', code: generateCode() },
          { 'x-forwarded-for': address },
        )
        .catch((error: Error) => ({ status: 0, json: { error: { code: error.message } } }));
      const finished = performance.now();
      const wrongCode = res.status === 401 && res.json?.error?.code === 'invalid_code';
      if (finished < measureFrom && wrongCode) warmupVerifications++;
      // Completions inside the window, whenever they began: the rate of a pipeline that is always full.
      if (finished < measureFrom || finished > end) continue;
      if (wrongCode) {
        verifications++;
        attemptTimes.push(finished - began);
      } else {
        const key = `${res.status} ${res.json?.error?.code ?? ''}`.trim();
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  };

  const probe = async () => {
    while (performance.now() < end) {
      const began = performance.now();
      const took = await timed(() => prober.get('/healthz'));
      if (began >= measureFrom && began + took <= end) probeTimes.push(took);
      await new Promise((resolve) => setTimeout(resolve, options.probeEveryMs));
    }
  };

  let cpu: CpuWindow | null = null;
  let warmupCpu: CpuWindow | null = null;
  const account = (async () => {
    const closeWarmup = cpuWindow(server.process.pid ?? 0);
    await new Promise((resolve) => setTimeout(resolve, measureFrom - performance.now()));
    warmupCpu = closeWarmup();
    const close = cpuWindow(server.process.pid ?? 0);
    await new Promise((resolve) => setTimeout(resolve, end - performance.now()));
    cpu = close();
  })();

  const load = new LoadClient(server.url, options.clients);
  const prober = new LoadClient(server.url, 1);
  try {
    await Promise.all([account, probe(), ...Array.from({ length: options.clients }, client)]);
  } finally {
    load.close();
    prober.close();
  }
  const durationS = options.durationMs / 1000;
  return {
    clients: options.clients,
    warmupS: options.warmupMs / 1000,
    durationS,
    verifications,
    perSecond: round(verifications / durationS, 1),
    attempt: summarize(attemptTimes),
    healthz: summarize(probeTimes),
    errors,
    cpu,
    warmup: { verifications: warmupVerifications, cpu: warmupCpu },
    exhaustedAccounts: targets.filter((t) => t.attempts >= ATTEMPTS_PER_ACCOUNT).length,
    ranOut: exhausted,
  };
}
