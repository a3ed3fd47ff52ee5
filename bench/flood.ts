/**
 * Row 8: a password-spraying flood. 500 clients on loopback (bench/flood-clients.ts, in a process of
 * their own), each sending wrong-password sign-ins one after another for a bounded time, none
 * waiting for Retry-After, while two probes in this process measure what must stay fast: GET
 * /healthz, and GET /api/me for a user who signed in before the flood. The server sheds what its
 * argon2id queue cannot finish within ARGON2_QUEUE_MAX_WAIT_MS.
 *
 * The names sprayed are unknown and new each time (each attempt still costs one argon2id against the
 * dummy hash and the two writes of that name's own lockout, and no lockout stops it), and each client claims a new address (X-Forwarded-For with
 * TRUST_PROXY=1) before the per-address limit would stop it, like a flood spread over many machines.
 *
 * `node --import tsx bench/flood.ts` runs this row alone (BENCH_QUICK=1 for a short try).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { call, startServer } from '../test/support/server';
import { type CpuWindow, cpuWindow, processCpuMs } from './cpu';
import { buildShippedServer, shippedServer } from './shipped-server';
import { round, type Summary, summarize, timed } from './stats';

export interface FloodOptions {
  clients: number;
  /** The clients wait as long as a 503's Retry-After says (row 8r); by default they do not (row 8). */
  honourRetryAfter?: boolean;
  warmupMs: number;
  durationMs: number;
  /** How often each probe asks. */
  probeEveryMs: number;
}

export interface FloodResult {
  clients: number;
  honourRetryAfter: boolean;
  durationS: number;
  /** Attempts whose password was checked (401), and how long each took to answer. */
  judged: number;
  judgedPerSecond: number;
  judgedLatency: Summary;
  /** Attempts refused at once (503 overloaded), and how long that took. */
  shed: number;
  shedPerSecond: number;
  shedLatency: Summary;
  /** Any other answer, by status and code: there should be none. */
  other: Record<string, number>;
  healthz: Summary;
  me: Summary;
  cpu: CpuWindow | null;
  /** CPU ms the attacking clients' process used in the window (inside cpu.othersMs). */
  attackersMs: number | null;
}

export async function measureFlood(options: FloodOptions, env: Record<string, string> = {}) {
  const server = await startServer({ env: { TRUST_PROXY: '1', ...env }, command: shippedServer() });
  try {
    const created = await call(server.url, 'POST', '/api/admin/users', {
      token: (
        await call(server.url, 'POST', '/api/auth/login', {
          body: { username: 'admin', password: server.adminPassword },
        })
      ).body.token,
      body: { username: 'steady', password: 'steady-password-123' },
    });
    if (created.status !== 201) throw new Error(`could not create the signed-in user: ${created.status}`);
    const signedIn = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: 'steady', password: 'steady-password-123' },
    });
    const session = signedIn.body.token as string;

    const healthzTimes: number[] = [];
    const meTimes: number[] = [];
    const other: Record<string, number> = {};
    const attackers = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'flood-clients.ts')],
      {
        env: {
          ...process.env,
          FLOOD_URL: server.url,
          FLOOD_CLIENTS: String(options.clients),
          FLOOD_WARMUP_MS: String(options.warmupMs),
          FLOOD_DURATION_MS: String(options.durationMs),
          FLOOD_HONOUR_RETRY_AFTER: options.honourRetryAfter ? '1' : '0',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let attackerOutput = '';
    attackers.stdout.on('data', (chunk: Buffer) => {
      attackerOutput += chunk.toString();
    });
    const attackersDone = new Promise<number | null>((done) => attackers.once('exit', done));
    // The window starts when the attackers do (loading tsx takes a moment).
    while (!attackerOutput.startsWith('started')) {
      if (attackers.exitCode !== null) throw new Error('the flood clients stopped before starting');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const start = performance.now();
    const measureFrom = start + options.warmupMs;
    const end = measureFrom + options.durationMs;

    const probe = async (samples: number[], ask: () => Promise<number>) => {
      while (performance.now() < end) {
        const began = performance.now();
        let status = 0;
        const took = await timed(async () => {
          status = await ask();
        });
        if (began >= measureFrom && began + took <= end) {
          if (status !== 200) other[`probe ${status}`] = (other[`probe ${status}`] ?? 0) + 1;
          samples.push(took);
        }
        await new Promise((resolve) => setTimeout(resolve, options.probeEveryMs));
      }
    };
    const healthz = () =>
      fetch(new URL('/healthz', server.url)).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    const me = () =>
      fetch(new URL('/api/me', server.url), { headers: { authorization: `Bearer ${session}` } }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
      );

    let cpu: CpuWindow | null = null;
    let attackersMs: number | null = null;
    const account = (async () => {
      await new Promise((resolve) => setTimeout(resolve, measureFrom - performance.now()));
      const close = cpuWindow(server.process.pid ?? 0);
      const attackers0 = processCpuMs(attackers.pid ?? 0);
      await new Promise((resolve) => setTimeout(resolve, end - performance.now()));
      cpu = close();
      const attackers1 = processCpuMs(attackers.pid ?? 0);
      attackersMs = attackers0 === null || attackers1 === null ? null : attackers1 - attackers0;
    })();

    await Promise.all([account, probe(healthzTimes, healthz), probe(meTimes, me)]);
    if ((await attackersDone) !== 0) throw new Error('the flood clients failed');
    const attack = JSON.parse(attackerOutput.split('\n')[1] ?? '{}') as {
      judged: Summary;
      shed: Summary;
      other: Record<string, number>;
    };
    const durationS = options.durationMs / 1000;
    return {
      clients: options.clients,
      honourRetryAfter: Boolean(options.honourRetryAfter),
      durationS,
      judged: attack.judged.n,
      judgedPerSecond: round(attack.judged.n / durationS, 1),
      judgedLatency: attack.judged,
      shed: attack.shed.n,
      shedPerSecond: round(attack.shed.n / durationS, 1),
      shedLatency: attack.shed,
      other: { ...attack.other, ...other },
      healthz: summarize(healthzTimes),
      me: summarize(meTimes),
      cpu,
      attackersMs,
    } satisfies FloodResult;
  } finally {
    await server.stop();
  }
}

const quick = process.env.BENCH_QUICK === '1';
export const FLOOD_OPTIONS: FloodOptions = {
  clients: 500,
  warmupMs: quick ? 1000 : 3000,
  durationMs: quick ? 4000 : 20_000,
  probeEveryMs: 20,
};

if (import.meta.filename === process.argv[1]) {
  const honourRetryAfter = process.argv.includes('--honour-retry-after');
  buildShippedServer();
  measureFlood({ ...FLOOD_OPTIONS, honourRetryAfter }).then(
    (result) => process.stdout.write(`${JSON.stringify(result, null, 2)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
