/**
 * Every argon2id call of the server goes through one queue. At most `concurrency` run at once; the
 * others wait here, in order, rather than in libuv's thread pool, which the file system shares: with
 * threads left free, a store read or fsync never waits behind a pile of hashes.
 *
 * The queue is also the sign-in's admission control: when the hashes already waiting would take more
 * than `maxWaitMs` to finish, a new sign-in attempt is refused at once (503, Retry-After) instead of
 * joining a queue that a password-spraying flood can grow without end. While it sheds, one slot stays
 * unused: hashes on every core would leave the event loop and the file system waiting for a core, and
 * signed-in users, /healthz and the refusals themselves would slow down with them.
 *
 * A client told to retry later that comes back sooner is still refused, but its 503 is held until the
 * time it was given. Otherwise a flood that ignores Retry-After costs the event loop one refusal per
 * round trip, as fast as the clients can ask, and the refusals alone keep everyone else waiting.
 *
 * Hashes that are not part of a sign-in (generating backup codes, changing or resetting a password)
 * get a bounded share: they wait behind every sign-in hash, never hold more than all slots but one
 * (a single-slot queue lends its slot), and do not count as work ahead of a sign-in beyond the hashes
 * they are running. So a signed-in user asking for work in a loop slows only their own requests, and
 * never pushes anyone's sign-in into a 503. Which hash is a sign-in's is said by the hasher it goes
 * through: `signInHasher` (the sign-in routes run their services with it, http/overload.ts `forSignIn`)
 * or `hasher` (everything else). It used to be read from an AsyncLocalStorage context, which on Node 20
 * turns on async hooks for every promise of the process: about 4% of the event loop under sign-in load.
 */
import { availableParallelism } from 'node:os';
import type { Hasher } from './hasher';

export type HashOperation = 'hash_password' | 'verify_password' | 'code_digest';

export interface HashQueueOptions {
  concurrency: number;
  /** The longest a newly admitted sign-in attempt should wait for its hash; longer, and it is shed. */
  maxWaitMs?: number;
  /** Called for each attempt shed; `held` when its client came back before its Retry-After. */
  onShed?: (held: boolean) => void;
  /** How long after the last shed one slot stays unused (default 5 s). */
  freeCoreAfterShedMs?: number;
  /** The most refusals held at once, so that their memory stays bounded (default 5,000). */
  maxHeld?: number;
  /** Called once per finished argon2id call with its own running time (the wait excluded). */
  onHashed?: (operation: HashOperation, seconds: number) => void;
}

/** libuv's thread pool size (UV_THREADPOOL_SIZE, 4 unless set): argon2id and the file system share it. */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env.UV_THREADPOOL_SIZE) || 4;
}

/**
 * As many hashes at once as there are cores (more only slow each other down and starve the event
 * loop), and never the whole thread pool: at least one thread stays free for the file system (and
 * PostgreSQL's DNS and TLS work).
 */
export function defaultHashConcurrency(
  env: NodeJS.ProcessEnv = process.env,
  cores: number = availableParallelism(),
): number {
  return Math.max(1, Math.min(cores, threadPoolSize(env) - 1));
}

export const DEFAULT_MAX_WAIT_MS = 3000;
const FREE_CORE_AFTER_SHED_MS = 5000;

/** Before any hash has been timed: argon2id at OWASP cost on a slow core. */
const FIRST_GUESS_MS = 50;
/** Weight of the newest timing in the moving average: follows a change of load within ~10 hashes. */
const SMOOTHING = 0.2;

/**
 * A sign-in attempt let in, to release when it is answered; or refused, with when to retry and, for a
 * client back before its time, what to wait for before answering.
 */
export type Admission =
  | { admitted: true; release: () => void }
  | { admitted: false; retryAfterS: number; held?: Promise<void> };

/** What the app asks before it starts a sign-in attempt (deps.signInGate), with the client's address. */
export interface SignInGate {
  admit(client?: string | null): Admission;
  /** The hasher of a sign-in's work: its hashes are served before any other work. */
  readonly signInHasher: Hasher;
  /**
   * While sign-ins are being shed: the Retry-After (seconds) for starting work that is not a sign-in
   * but needs argon2id (it would only wait behind the sign-ins); null while there is room.
   */
  otherWorkRetryAfterS(): number | null;
}

/** A call waiting for its turn, and when it began waiting. */
interface Waiting {
  turn: () => void;
  since: number;
}

/** Clients remembered as told to wait; past this the oldest are forgotten (answered at once if early). */
const MAX_TOLD = 100_000;
/** Refusals held at once, unless told otherwise; past this an early client is answered at once. */
const MAX_HELD = 5_000;
/**
 * The longest one refusal is held, whatever its Retry-After (which grows while the store is stuck):
 * a held request also holds back a graceful shutdown.
 */
export const MAX_HOLD_MS = 10_000;

/** Which clients were told to retry no sooner than when (performance.now() milliseconds). */
class ToldToWait {
  /** Insertion order is the order they were told, so the front is the first to expire. */
  readonly #until = new Map<string, number>();

  tell(client: string, until: number, now: number): void {
    this.#until.delete(client);
    this.#until.set(client, until);
    for (const [oldest, oldestUntil] of this.#until) {
      if (oldestUntil > now && this.#until.size <= MAX_TOLD) break;
      this.#until.delete(oldest);
    }
  }

  /** How long before its time the client is back: 0 if it is not early. */
  earlyByMs(client: string, now: number): number {
    return Math.max(0, (this.#until.get(client) ?? now) - now);
  }
}

export class HashQueue implements SignInGate {
  /** For work that is not a sign-in: waits behind every sign-in hash, within its share of the slots. */
  readonly hasher: Hasher;
  readonly signInHasher: Hasher;
  readonly concurrency: number;
  #running = 0;
  /** Of those running, the calls that are not a sign-in's. */
  #runningOther = 0;
  /** The calls of sign-in attempts waiting for a turn, in arrival order: served first. */
  readonly #signInWaiting: Waiting[] = [];
  /** Every other call waiting for a turn, in arrival order. */
  readonly #otherWaiting: Waiting[] = [];
  readonly #onHashed: HashQueueOptions['onHashed'];
  readonly #onShed: HashQueueOptions['onShed'];
  readonly #maxWaitMs: number;
  /** When each attempt let in and not yet answered was let in; insertion order, so the first is the oldest. */
  readonly #admitted = new Map<number, number>();
  #admissions = 0;
  #averageMs: number | null = null;
  readonly #freeCoreAfterShedMs: number;
  #lastShedAt = Number.NEGATIVE_INFINITY;
  readonly #told = new ToldToWait();
  #held = 0;
  readonly #maxHeld: number;

  constructor(inner: Hasher, options: HashQueueOptions) {
    this.concurrency = Math.max(1, options.concurrency);
    this.#maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.#onHashed = options.onHashed;
    this.#onShed = options.onShed;
    this.#freeCoreAfterShedMs = options.freeCoreAfterShedMs ?? FREE_CORE_AFTER_SHED_MS;
    this.#maxHeld = options.maxHeld ?? MAX_HELD;
    this.hasher = this.#queued(inner, false);
    this.signInHasher = this.#queued(inner, true);
  }

  #queued(inner: Hasher, signIn: boolean): Hasher {
    return {
      hashPassword: (password) => this.#run('hash_password', signIn, () => inner.hashPassword(password)),
      verifyPassword: (hash, password) =>
        this.#run('verify_password', signIn, () => inner.verifyPassword(hash, password)),
      codeDigest: (code, salt) => this.#run('code_digest', signIn, () => inner.codeDigest(code, salt)),
    };
  }

  /** How many hashes may run at once now: one fewer while shedding, never fewer than one. */
  get slots(): number {
    const shedding = performance.now() - this.#lastShedAt < this.#freeCoreAfterShedMs;
    return shedding ? Math.max(1, this.concurrency - 1) : this.concurrency;
  }

  /** argon2id calls waiting for a turn. */
  get waiting(): number {
    return this.#signInWaiting.length + this.#otherWaiting.length;
  }

  /**
   * The most slots work that is not a sign-in may hold at once: all but one, so that a sign-in's hash
   * always finds a slot free or about to be; a queue of one slot lends it (sign-ins still go first).
   */
  get otherSlots(): number {
    return Math.max(1, this.concurrency - 1);
  }

  /** argon2id calls running now. */
  get running(): number {
    return this.#running;
  }

  /** Refusals being held until their client's Retry-After has passed. */
  get held(): number {
    return this.#held;
  }

  /** The moving average of one argon2id call's running time, in milliseconds. */
  get averageMs(): number {
    return this.#averageMs ?? FIRST_GUESS_MS;
  }

  /**
   * How long a sign-in's hash asked for now would take to finish: the work ahead of it spread over the
   * slots. Admitted attempts count from the moment they are let in, before they reach their hash (a
   * store read comes first), so a burst arriving at once cannot all slip in under an empty queue.
   * Other work waiting is not ahead: a sign-in's hash goes before it.
   */
  estimatedWaitMs(): number {
    const ahead = Math.max(this.#signInWaiting.length + this.#running, this.#admitted.size);
    return ((ahead + 1) / this.slots) * this.averageMs;
  }

  /**
   * How long the oldest unanswered sign-in work has been waiting: the sign-in hash first in line, or
   * the attempt let in longest ago. When the machine slows down (CPU taken by others, a slow disk, a
   * busy event loop) the estimate lags; these do not, so admission stops until what was let in is
   * answered. Other work waiting behind the sign-ins is not counted: it delays no sign-in.
   */
  oldestWaitMs(): number {
    const now = performance.now();
    const firstInLine = this.#signInWaiting[0]?.since ?? now;
    const [firstAdmitted = now] = this.#admitted.values();
    return now - Math.min(firstInLine, firstAdmitted);
  }

  /**
   * Lets an attempt in or refuses it. Only a refusal looks at `client` (its address): an attempt the
   * queue has room for is let in whenever it comes, and who is early says nothing about any account.
   */
  admit(client: string | null = null): Admission {
    const waitMs = Math.max(this.estimatedWaitMs(), this.oldestWaitMs());
    if (waitMs > this.#maxWaitMs) {
      const now = performance.now();
      this.#lastShedAt = now;
      const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
      // Never longer than the Retry-After it gets: many connections from one address are each held,
      // not lined up one behind the other.
      const holdMs =
        client === null || this.#held >= this.#maxHeld
          ? 0
          : Math.min(this.#told.earlyByMs(client, now), retryAfterS * 1000, MAX_HOLD_MS);
      // Its Retry-After counts from when it is answered.
      if (client !== null) this.#told.tell(client, now + holdMs + retryAfterS * 1000, now);
      this.#onShed?.(holdMs > 0);
      if (holdMs === 0) return { admitted: false, retryAfterS };
      this.#held++;
      const held = new Promise<void>((answer) => setTimeout(answer, holdMs)).finally(() => this.#held--);
      return { admitted: false, retryAfterS, held };
    }
    const id = this.#admissions++;
    this.#admitted.set(id, performance.now());
    return { admitted: true, release: () => this.#admitted.delete(id) };
  }

  /** Shedding, as the free core shows it: the last shed was less than freeCoreAfterShedMs ago. */
  otherWorkRetryAfterS(): number | null {
    if (performance.now() - this.#lastShedAt >= this.#freeCoreAfterShedMs) return null;
    return Math.max(1, Math.ceil(Math.max(this.estimatedWaitMs(), this.oldestWaitMs()) / 1000));
  }

  #timed(ms: number): void {
    this.#averageMs = this.#averageMs === null ? ms : this.#averageMs + SMOOTHING * (ms - this.#averageMs);
  }

  /** Gives free slots to the sign-in calls first in line, then to other work within its share. */
  #pump(): void {
    while (this.#running < this.slots) {
      let next = this.#signInWaiting.shift();
      if (!next && this.#runningOther < this.otherSlots) {
        next = this.#otherWaiting.shift();
        if (next) this.#runningOther++;
      }
      if (!next) return;
      this.#running++;
      next.turn();
    }
  }

  async #run<T>(operation: HashOperation, signIn: boolean, work: () => Promise<T>): Promise<T> {
    await new Promise<void>((turn) => {
      (signIn ? this.#signInWaiting : this.#otherWaiting).push({ turn, since: performance.now() });
      this.#pump();
    });
    const started = performance.now();
    try {
      return await work();
    } finally {
      const ms = performance.now() - started;
      this.#timed(ms);
      this.#onHashed?.(operation, ms / 1000);
      this.#running--;
      if (!signIn) this.#runningOther--;
      this.#pump();
    }
  }
}
