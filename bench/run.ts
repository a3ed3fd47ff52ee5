/**
 * `npm run bench`: the five comparisons of issue 5 (plus the enumeration timing), each measured side
 * by side in this one run, on loopback only and in bounded loops; rows 4 and 5 for both stores
 * (lowdb and PostgreSQL on a throwaway cluster) and for two instances on one database; row 7, opening a
 * store with 10 million audit events, and rows 8 and 8r, a password-spraying flood of 500 clients
 * against one server (issue 11; bench/flood.ts runs it alone); rows 9 and 10, the compiled server's
 * start-up time and memory against tsx's (issue 19; bench/start-up.ts runs them alone). Prints one
 * table and writes bench/results.json with the machine's CPU count and Node version.
 *
 * BENCH_QUICK=1 shortens every loop (for trying the script, not for numbers worth quoting).
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { OWASP_ARGON2 } from '../server/crypto/hasher';
import { measureAuditOpen } from './audit-open';
import { startBenchCluster } from './build-postgres';
import { FLOOD_OPTIONS, type FloodResult, measureFlood } from './flood';
import { measureRow3, type Row3, row3Rows } from './row3';
import { buildShippedServer } from './shipped-server';
import { measureSignIn } from './sign-in';
import { measureStartUp, START_UP_ROUNDS, startUpGoals, startUpRows } from './start-up';
import { round } from './stats';
import { measureStoreWrites } from './store-writes';
import { measureVerifyCost } from './verify-cost';

const quick = process.env.BENCH_QUICK === '1';
const cores = availableParallelism();
const scale = (full: number, short: number) => (quick ? short : full);

function log(message: string) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function main() {
  const startedAt = new Date();
  const load = { before: loadavg().map((v) => round(v, 2)), after: [] as number[] };
  log(`${cores} cores, Node ${process.version}, load average ${load.before.join(' ')}`);

  log('1-2: wrong code against sets of 1, 10, 20 codes; ours and one-by-one');
  const verify = await measureVerifyCost(OWASP_ARGON2, { ours: scale(40, 8), baseline: scale(10, 2) });

  log('3: the limit (one hash, then all cores hashing), then MFA verifications over HTTP');
  const row3 = await measureRow3(cores, quick);
  const throughput = row3.throughput;

  log('PostgreSQL: a throwaway cluster (fsync on) for rows 4 and 5');
  const cluster = await startBenchCluster();
  let storeWrites: Awaited<ReturnType<typeof measureStoreWrites>>;
  let signIn: Awaited<ReturnType<typeof measureSignIn>>;
  try {
    log('4: one spend acknowledged by each store with 100, 10,000 and 100,000 users');
    storeWrites = await measureStoreWrites(
      quick ? [100, 1000, 5000] : [100, 10_000, 100_000],
      scale(200, 40),
      cluster,
    );
    log(
      '5: 50 clients signing in (password + TOTP) for 30 s: lowdb, PostgreSQL, two instances on PostgreSQL',
    );
    signIn = await measureSignIn(
      {
        clients: 50,
        durationMs: scale(30_000, 5000),
        accounts: scale(4000, 1000),
        enumerationSamples: scale(60, 10),
      },
      cluster,
    );
  } finally {
    await cluster.destroy();
  }
  const store = storeWrites.sizes;

  const auditEvents = Number(process.env.BENCH_AUDIT_EVENTS) || scale(10_000_000, 200_000);
  log(`7: opening a store whose audit logs hold ${auditEvents.toLocaleString('en')} events`);
  const auditOpen = await measureAuditOpen(auditEvents, scale(5, 3));
  log(
    '8: 500 clients spraying wrong passwords (ignoring Retry-After, then honouring it), probes on /healthz and /api/me',
  );
  const flood = await measureFlood(FLOOD_OPTIONS);
  const politeFlood = await measureFlood({ ...FLOOD_OPTIONS, honourRetryAfter: true });
  log(
    `9-10: start-up to the first ready 200, and memory, compiled vs tsx (${START_UP_ROUNDS} alternating starts each)`,
  );
  const startUp = await measureStartUp(START_UP_ROUNDS);
  load.after = loadavg().map((v) => round(v, 2));

  const ours1 = verify.ours[1];
  const ours10 = verify.ours[10];
  const ours20 = verify.ours[20];
  const base10 = verify.baseline[10];
  if (!ours1 || !ours10 || !ours20 || !base10) throw new Error('missing verification samples');
  const setSizeRatio = round(ours20.median / ours1.median, 3);
  const baselineRatio = round(base10.median / ours10.median, 1);
  const small = store[0];
  const large = store.at(-1);
  if (!small || !large) throw new Error('missing store samples');
  const storeFlat = round(large.spend.median / small.spend.median, 2);
  const pgFlat = round(large.postgres.spend.median / small.postgres.spend.median, 2);
  const enumRatio = signIn.enumeration.ratio;

  const goals = {
    setSize: setSizeRatio <= 1.2,
    throughput: row3.goals.ofLimit,
    throughputOfCeiling: row3.goals.ofCeiling,
    eventLoop: row3.goals.healthz,
    eventLoopCpu: row3.goals.eventLoop,
    signInLittlesLaw: littlesLaw(signIn.load).within15,
    storeP99: large.spend.p99 < 20,
    storeFlat: storeFlat <= 1.5,
    signInErrors: signIn.load.errors === 0,
    pgStoreP99: large.postgres.spend.p99 < 20,
    pgStoreFlat: pgFlat <= 1.5,
    pgSignInErrors: signIn.postgres.errors === 0,
    twoInstancesErrors: signIn.twoInstances.errors === 0,
    enumeration: Math.abs(enumRatio - 1) <= 0.1 && signIn.enumeration.sameBody,
    auditOpen: auditOpen.open.median < 1000,
    floodHealthz: flood.healthz.p99 < 50,
    floodMe: flood.me.p99 < 100,
    politeFloodHealthz: politeFlood.healthz.p99 < 50,
    politeFloodMe: politeFlood.me.p99 < 100,
    ...startUpGoals(startUp),
  };
  const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
  const ms = (s: { median: number; p99: number }) => `${s.median} / ${s.p99} ms`;
  const rows: string[][] = [
    ['#', 'Comparison', 'Measured (median / p99)', 'Side by side', 'Goal', 'Met'],
    [
      '1',
      'Wrong code vs set size',
      `1: ${ms(ours1)}; 10: ${ms(ours10)}; 20: ${ms(ours20)}`,
      `20 codes / 1 code = ${setSizeRatio}x`,
      '<= 1.2x',
      yes(goals.setSize),
    ],
    [
      '2',
      'Usual way: hash each code',
      `1: ${ms(verify.baseline[1] ?? ours1)}; 10: ${ms(base10)}; 20: ${ms(verify.baseline[20] ?? ours20)}`,
      `at 10 codes: ${baselineRatio}x ours`,
      'shown',
      '-',
    ],
    ...row3Rows(row3, cores),
    [
      '4',
      'Spend acknowledged by the store',
      store.map((s) => `${s.users.toLocaleString('en')}: ${ms(s.spend)}`).join('; '),
      `median ${large.users.toLocaleString('en')} / ${small.users} users = ${storeFlat}x; ` +
        `a bare durable write: ${ms(storeWrites.rawDurableWrite)}`,
      'flat; p99 < 20 ms at 100,000',
      `${yes(goals.storeFlat)}; ${yes(goals.storeP99)}`,
    ],
    [
      '4p',
      'Same, PostgreSQL store',
      store.map((s) => `${s.users.toLocaleString('en')}: ${ms(s.postgres.spend)}`).join('; '),
      `median ${large.users.toLocaleString('en')} / ${small.users} users = ${pgFlat}x; ` +
        `lowdb at ${large.users.toLocaleString('en')}: ${ms(large.spend)}`,
      'flat; p99 < 20 ms at 100,000',
      `${yes(goals.pgStoreFlat)}; ${yes(goals.pgStoreP99)}`,
    ],
    [
      '5',
      `Sign-in, ${signIn.load.clients} clients, ${signIn.load.durationS} s`,
      `${ms(signIn.load.latency)} (${signIn.load.signIns} sign-ins, ${signIn.load.perSecond}/s)`,
      `errors: ${signIn.load.errors}; ${littlesLaw(signIn.load).text}`,
      '0 errors; median within 15% of clients / rate',
      `${yes(goals.signInErrors)}; ${yes(goals.signInLittlesLaw)}`,
    ],
    [
      '5p',
      'Same, one server on PostgreSQL',
      `${ms(signIn.postgres.latency)} (${signIn.postgres.signIns} sign-ins, ${signIn.postgres.perSecond}/s)`,
      `errors: ${signIn.postgres.errors}; lowdb: ${signIn.load.perSecond}/s; ${littlesLaw(signIn.postgres).text}`,
      '0 errors',
      yes(goals.pgSignInErrors),
    ],
    [
      '5pp',
      'Same, two servers on one PostgreSQL, round-robin',
      `${ms(signIn.twoInstances.latency)} (${signIn.twoInstances.signIns} sign-ins, ${signIn.twoInstances.perSecond}/s)`,
      `errors: ${signIn.twoInstances.errors}; one server: ${signIn.postgres.perSecond}/s; ${littlesLaw(signIn.twoInstances).text}`,
      '0 errors',
      yes(goals.twoInstancesErrors),
    ],
    [
      '6',
      'Unknown user vs wrong password',
      `${ms(signIn.enumeration.unknownUser)} vs ${ms(signIn.enumeration.wrongPassword)}`,
      `ratio ${enumRatio}; same answer: ${signIn.enumeration.sameBody}`,
      'within 10%, same answer',
      yes(goals.enumeration),
    ],
    [
      '7',
      `Open a store, audit logs of ${auditOpen.events.toLocaleString('en')} events`,
      ms(auditOpen.open),
      `${round(auditOpen.bytes / 1024 ** 3, 2)} GiB in ${auditOpen.rotatedFiles} rotated files + the active one`,
      '< 1 s',
      yes(goals.auditOpen),
    ],
    floodRow('8', flood, goals.floodHealthz, goals.floodMe),
    floodRow('8r', politeFlood, goals.politeFloodHealthz, goals.politeFloodMe),
    ...startUpRows(startUp),
  ];
  printTable(rows);
  printCpuLine(row3);

  const results = {
    date: startedAt.toISOString(),
    quick,
    machine: {
      cpus: cores,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      loadAverage: load,
    },
    argon2: OWASP_ARGON2,
    goals,
    table: rows,
    verifyCost: verify,
    throughput: { ...throughput, ...row3Summary(row3) },
    store: storeWrites,
    signIn,
    auditOpen,
    flood: { ignoringRetryAfter: flood, honouringRetryAfter: politeFlood },
    startUp,
  };
  const file = join(import.meta.dirname, 'results.json');
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${file}`);
}

/** Row 8 or 8r: what stayed fast under the flood, and what the flood got. */
function floodRow(id: string, f: FloodResult, healthzOk: boolean, meOk: boolean): string[] {
  const ms = (s: { median: number; p99: number }) => `${s.median} / ${s.p99} ms`;
  const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
  return [
    id,
    `${f.clients} wrong-password clients, ${f.honourRetryAfter ? 'honouring' : 'ignoring'} Retry-After, ${f.durationS} s`,
    `/healthz ${ms(f.healthz)}; /api/me ${ms(f.me)}`,
    `${f.judgedPerSecond}/s judged (p99 ${f.judgedLatency.p99} ms), ${f.shedPerSecond}/s shed (p99 ${f.shedLatency.p99} ms); ` +
      `other answers: ${Object.keys(f.other).length === 0 ? 'none' : JSON.stringify(f.other)}`,
    '/healthz p99 < 50 ms; /api/me p99 < 100 ms',
    `${yes(healthzOk)}; ${yes(meOk)}`,
  ];
}

/** Row 3's figures beside its measured load, as results.json has them. */
function row3Summary({ throughput: _measured, ...summary }: Row3) {
  return summary;
}

/** Row 3's CPU per verification, in a sentence under the table. */
function printCpuLine(row3: Row3): void {
  const cpu = row3.cpuPerVerification;
  if (!cpu) return;
  process.stdout.write(
    `Item 3, CPU per verification: server ${cpu.serverMs} ms (event loop ${cpu.eventLoopMs} ms, ` +
      `argon2id and file threads ${cpu.threadsMs} ms), load clients ${cpu.clientMs} ms; ` +
      `one argon2id alone ${cpu.argon2idMs} ms of CPU; other programs used ${cpu.othersCores} cores, ` +
      `the hypervisor took ${cpu.stolenCores}.\n\n`,
  );
}

/**
 * Little's law for a closed load: with `clients` always waiting, the median sign-in should take
 * clients / rate. Much longer means time spent somewhere other than the queue for the cores.
 */
function littlesLaw(load: { clients: number; perSecond: number; latency: { median: number } }) {
  const expectedMs = load.perSecond > 0 ? (load.clients / load.perSecond) * 1000 : Number.POSITIVE_INFINITY;
  const ratio = round(load.latency.median / expectedMs, 2);
  return {
    ratio,
    within15: Math.abs(ratio - 1) <= 0.15,
    text: `clients / rate = ${Math.round(expectedMs)} ms, median ${ratio}x`,
  };
}

/** BENCH_ROWS=3: row 3 and its CPU row alone, printed; results.json (the whole run's) is left as it is. */
async function row3Alone(): Promise<void> {
  log(
    `row 3 alone: ${cores} cores, Node ${process.version}, load average ${loadavg()
      .map((v) => round(v, 2))
      .join(' ')}`,
  );
  const row3 = await measureRow3(cores, quick);
  printTable([
    ['#', 'Comparison', 'Measured (median / p99)', 'Side by side', 'Goal', 'Met'],
    ...row3Rows(row3, cores),
  ]);
  printCpuLine(row3);
  process.stdout.write(`${JSON.stringify({ ...row3.throughput, ...row3Summary(row3) })}\n`);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  const line = (r: string[]) => `| ${r.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join(' | ')} |`;
  const table = [
    line(rows[0] ?? []),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
  ];
  process.stdout.write(`\n${table.join('\n')}\n\n`);
}

const rowsWanted = process.env.BENCH_ROWS;
if (rowsWanted !== undefined && rowsWanted !== '3') {
  process.stderr.write(
    `BENCH_ROWS: only 3 (row 3 and its CPU row alone) can be run by itself, not "${rowsWanted}".\n`,
  );
  process.exit(2);
}
// Every row measures the compiled server (./shipped-server.ts): built once here, before the clocks start.
buildShippedServer();
(rowsWanted === '3' ? row3Alone() : main()).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
