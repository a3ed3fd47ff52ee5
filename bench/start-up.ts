/**
 * Rows 9 and 10 (issue 19, Benchmark): the compiled server against the TypeScript sources run through
 * tsx, side by side. Each start is a new process on a free loopback port with an empty DATA_DIR (so
 * each creates the first admin, one argon2id); measured from spawn to the first 200 from
 * /healthz/ready (polled every few milliseconds), and the process's resident memory (VmRSS) at that
 * moment. Starts alternate between the two, the order swapped every round, after one uncounted
 * warm-up start of each (file cache, the compiled bundle's first read); medians are compared.
 *
 * compiled: `node --enable-source-maps dist/server/sparekey.js serve`, what deploy/sparekey.service
 * runs (built first by scripts/build-server.ts, which skips an up-to-date build);
 * tsx: `node --import tsx server/main.ts` (`npm run serve`).
 *
 * `node --import tsx bench/start-up.ts` runs these rows alone (BENCH_QUICK=1: fewer rounds).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/support/server';
import { buildShippedServer, SHIPPED_SERVER_ARGS } from './shipped-server';
import { round, type Summary, summarize } from './stats';

const ROOT = resolve(import.meta.dirname, '..');

export const START_COMMANDS = {
  compiled: SHIPPED_SERVER_ARGS,
  tsx: ['--import', 'tsx', 'server/main.ts'],
} as const;

type Variant = keyof typeof START_COMMANDS;

export interface StartUpVariant {
  command: string;
  /** Spawn to the first 200 from /healthz/ready, ms. */
  readyMs: Summary;
  /** VmRSS at that moment, MiB. */
  rssMiB: Summary;
}

export interface StartUpResult {
  rounds: number;
  compiled: StartUpVariant;
  tsx: StartUpVariant;
}

/** A start that does not answer in this long is a failure, not a sample. */
const START_TIMEOUT_MS = 60_000;
const POLL_EVERY_MS = 5;

/** One GET of /healthz/ready on a new connection: its status, or 0 when nothing answers yet. */
function readyStatus(port: number): Promise<number> {
  return new Promise((done) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz/ready', agent: false }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on('error', () => done(0));
  });
}

async function residentMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!kib) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

/** One start of `variant`: until its first ready 200, then its RSS; then SIGTERM and the data removed. */
async function startOnce(variant: Variant): Promise<{ readyMs: number; rssMiB: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-bench-start-'));
  const port = await freePort();
  let stderr = '';
  const started = performance.now();
  const child = spawn(process.execPath, START_COMMANDS[variant], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      BOOTSTRAP_ADMIN_PASSWORD: 'bench-start-up-password',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    while ((await readyStatus(port)) !== 200) {
      if (child.exitCode !== null) throw new Error(`${variant} exited with ${child.exitCode}:\n${stderr}`);
      if (performance.now() - started > START_TIMEOUT_MS) throw new Error(`${variant} not ready in 60 s`);
      await new Promise((wait) => setTimeout(wait, POLL_EVERY_MS));
    }
    const readyMs = performance.now() - started;
    return { readyMs, rssMiB: await residentMiB(child.pid as number) };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Call with the compiled server built (`buildShippedServer`, which bench/run.ts does once for every row). */
export async function measureStartUp(rounds: number): Promise<StartUpResult> {
  await startOnce('compiled');
  await startOnce('tsx');
  const samples: Record<Variant, { readyMs: number[]; rssMiB: number[] }> = {
    compiled: { readyMs: [], rssMiB: [] },
    tsx: { readyMs: [], rssMiB: [] },
  };
  for (let n = 0; n < rounds; n++) {
    const order: Variant[] = n % 2 === 0 ? ['compiled', 'tsx'] : ['tsx', 'compiled'];
    for (const variant of order) {
      const sample = await startOnce(variant);
      samples[variant].readyMs.push(sample.readyMs);
      samples[variant].rssMiB.push(sample.rssMiB);
    }
  }
  const summary = (variant: Variant): StartUpVariant => ({
    command: `node ${START_COMMANDS[variant].join(' ')}`,
    readyMs: summarize(samples[variant].readyMs),
    rssMiB: summarize(samples[variant].rssMiB),
  });
  return { rounds, compiled: summary('compiled'), tsx: summary('tsx') };
}

/** The goal: the compiled server starts faster and is not larger. */
export function startUpGoals(result: StartUpResult) {
  return {
    startUpFaster: result.compiled.readyMs.median < result.tsx.readyMs.median,
    startUpNotLarger: result.compiled.rssMiB.median <= result.tsx.rssMiB.median,
  };
}

/** Rows 9 and 10 of the bench table (bench/run.ts's columns). */
export function startUpRows(result: StartUpResult): string[][] {
  const goals = startUpGoals(result);
  const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
  const both = (pick: (v: StartUpVariant) => Summary, unit: string) =>
    `compiled ${pick(result.compiled).median} / ${pick(result.compiled).p99} ${unit}; ` +
    `tsx ${pick(result.tsx).median} / ${pick(result.tsx).p99} ${unit}`;
  const ratio = (pick: (v: StartUpVariant) => Summary) =>
    `compiled / tsx = ${round(pick(result.compiled).median / pick(result.tsx).median, 2)}x (medians of ${result.rounds} starts each)`;
  return [
    [
      '9',
      'Start-up: spawn to first 200 from /healthz/ready',
      both((v) => v.readyMs, 'ms'),
      ratio((v) => v.readyMs),
      'compiled faster',
      yes(goals.startUpFaster),
    ],
    [
      '10',
      'Resident memory (RSS) once ready',
      both((v) => v.rssMiB, 'MiB'),
      ratio((v) => v.rssMiB),
      'compiled not larger',
      yes(goals.startUpNotLarger),
    ],
  ];
}

export const START_UP_ROUNDS = process.env.BENCH_QUICK === '1' ? 3 : 9;

if (import.meta.filename === process.argv[1]) {
  buildShippedServer();
  measureStartUp(START_UP_ROUNDS).then(
    (result) => {
      const rows = startUpRows(result).map((row) => `| ${row.join(' | ')} |`);
      process.stdout.write(`${rows.join('\n')}\n\n${JSON.stringify(result, null, 2)}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
