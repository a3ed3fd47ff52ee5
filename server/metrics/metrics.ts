/**
 * What the server counts for Prometheus (prom-client). Labels come from short fixed lists only:
 * never a username, an address, a code or a token, whatever an event carries.
 *
 * Sign-ins, code use and lockouts are counted from the audit events as the store records them
 * (./measured-store.ts), so each is counted exactly when it is audited, in one place, without the
 * sign-in code knowing about metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Policy } from '../../shared/api';
import type { HashOperation } from '../crypto/hash-queue';
import { backupCodeStatus } from '../services/mfa-policy';
import type { NewAuditEvent, Store } from '../store/types';

/** How long the count of users low on codes is reused: it reads every account, so not at every scrape. */
export const LOW_CODES_CACHE_MS = 10_000;

const SIGN_IN_METHODS = new Set(['password', 'totp', 'backup_code', 'enrolment']);

/** A label value from a fixed list; anything else is 'other', so no event detail can become a label. */
const methodLabel = (value: unknown) =>
  typeof value === 'string' && SIGN_IN_METHODS.has(value) ? value : 'other';

export interface MetricSources {
  store: Store;
  /** The argon2id queue's depth, read at scrape time. */
  hashQueue: { waiting: number; running: number };
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(sources: MetricSources) {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const signIns = new Counter({
    name: 'sparekey_sign_ins_total',
    help: 'Sign-in steps judged, by method (password, totp, backup_code, enrolment) and outcome (success, failure). A success is a session opened.',
    labelNames: ['method', 'outcome'] as const,
    registers,
  });
  const backupCodesUsed = new Counter({
    name: 'sparekey_backup_codes_used_total',
    help: 'Backup codes spent at sign-in.',
    registers,
  });
  const lockouts = new Counter({
    name: 'sparekey_lockouts_total',
    help: 'Locks set by failed attempts (the password_locked and mfa_locked events), by step (password, mfa) and until (timed: a lock that ends by itself; admin: one only an unlock lifts). Password locks include names no account has, which lock like accounts.',
    labelNames: ['step', 'until'] as const,
    registers,
  });
  const unlocks = new Counter({
    name: 'sparekey_unlocks_total',
    help: 'Accounts unlocked, by who (admin: over the API; host: npm run admin -- unlock).',
    labelNames: ['by'] as const,
    registers,
  });
  const sessionsStarted = new Counter({
    name: 'sparekey_sessions_started_total',
    help: 'Sessions opened (sign-ins, and the fresh session after a password change).',
    registers,
  });
  const signOuts = new Counter({
    name: 'sparekey_sign_outs_total',
    help: 'Sessions ended by signing out (expired sessions are not counted).',
    registers,
  });
  const shed = new Counter({
    name: 'sparekey_sign_ins_shed_total',
    help: 'Sign-in attempts refused (503) because argon2id had more waiting than it could check within ARGON2_QUEUE_MAX_WAIT_MS.',
    registers,
  });
  const shedHeld = new Counter({
    name: 'sparekey_sign_ins_shed_held_total',
    help: 'Of the attempts shed, those whose client came back before the Retry-After it was given: their 503 was held until then.',
    registers,
  });
  const hashSeconds = new Histogram({
    name: 'sparekey_argon2_duration_seconds',
    help: 'Running time of one argon2id call (its wait in the queue excluded), by operation.',
    labelNames: ['operation'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  new Gauge({
    name: 'sparekey_argon2_queue_waiting',
    help: 'argon2id calls waiting for a turn.',
    registers,
    collect() {
      this.set(sources.hashQueue.waiting);
    },
  });
  new Gauge({
    name: 'sparekey_argon2_running',
    help: 'argon2id calls running now.',
    registers,
    collect() {
      this.set(sources.hashQueue.running);
    },
  });
  const storeWriteSeconds = new Histogram({
    name: 'sparekey_store_write_duration_seconds',
    help: 'Time until a store write is durable, by store operation.',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });

  // Every series exists from the start at 0, so rate() and increase() see the first event.
  for (const method of SIGN_IN_METHODS) {
    for (const outcome of ['success', 'failure']) signIns.inc({ method, outcome }, 0);
  }
  for (const step of ['password', 'mfa']) {
    for (const until of ['timed', 'admin']) lockouts.inc({ step, until }, 0);
  }
  for (const by of ['admin', 'host']) unlocks.inc({ by }, 0);

  let lowCodes: { at: number; value: Promise<number> } | null = null;
  const countLowCodes = async () => {
    const policy: Policy = await sources.store.getPolicy();
    if (!policy.backupCodes.enabled) return 0;
    const users = await sources.store.listUsers();
    return users.filter((user) => backupCodeStatus(policy, user).warn).length;
  };
  new Gauge({
    name: 'sparekey_users_low_on_backup_codes',
    help: `Users whose unused backup codes are at or below the policy's warning count (recounted at most every ${LOW_CODES_CACHE_MS / 1000} s).`,
    registers,
    async collect() {
      const now = Date.now();
      if (!lowCodes || now - lowCodes.at >= LOW_CODES_CACHE_MS) {
        // One count at a time: concurrent scrapes share it; a failed count is retried at the next scrape.
        const value = countLowCodes();
        lowCodes = { at: now, value };
        value.catch(() => {
          lowCodes = null;
        });
      }
      this.set(await lowCodes.value);
    },
  });

  return {
    registry,
    /** Counts what one recorded audit event means. */
    countEvent(event: NewAuditEvent): void {
      const method = methodLabel(event.details?.method);
      const until = event.details?.needsAdminUnlock === true ? 'admin' : 'timed';
      switch (event.type) {
        case 'login_succeeded':
          signIns.inc({ method, outcome: 'success' });
          return;
        case 'login_failed':
          signIns.inc({ method: 'password', outcome: 'failure' });
          return;
        case 'mfa_failed':
          signIns.inc({ method, outcome: 'failure' });
          return;
        case 'backup_code_failed':
          signIns.inc({ method: 'backup_code', outcome: 'failure' });
          return;
        case 'backup_code_used':
          backupCodesUsed.inc();
          return;
        case 'mfa_locked':
          lockouts.inc({ step: 'mfa', until });
          return;
        case 'password_locked':
          lockouts.inc({ step: 'password', until });
          return;
        case 'user_unlocked':
          unlocks.inc({ by: event.details?.via === 'host' ? 'host' : 'admin' });
          return;
        case 'logout':
          signOuts.inc();
          return;
      }
    },
    sessionStarted: () => sessionsStarted.inc(),
    shed: (held: boolean) => {
      shed.inc();
      if (held) shedHeld.inc();
    },
    hashed: (operation: HashOperation, seconds: number) => hashSeconds.observe({ operation }, seconds),
    storeWrite: (operation: string, seconds: number) => storeWriteSeconds.observe({ operation }, seconds),
  };
}
