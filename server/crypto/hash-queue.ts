/**
 * Every argon2id call of the server goes through one queue. At most `concurrency` run at once; the
 * others wait here, in order, rather than in libuv's thread pool, which the file system shares: with
 * one thread always left free, a store read or fsync never waits behind a pile of hashes.
 */
import type { Hasher } from './hasher';

export type HashOperation = 'hash_password' | 'verify_password' | 'code_digest';

export interface HashQueueOptions {
  concurrency: number;
  /** Called once per finished argon2id call with its own running time (the wait excluded). */
  onHashed?: (operation: HashOperation, seconds: number) => void;
}

/** libuv's thread pool size (UV_THREADPOOL_SIZE, 4 unless set): argon2id and the file system share it. */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  return Number(env.UV_THREADPOOL_SIZE) || 4;
}

/** One thread stays free for the file system (and PostgreSQL's DNS and TLS work). */
export function defaultHashConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  return Math.max(1, threadPoolSize(env) - 1);
}

export class HashQueue {
  readonly hasher: Hasher;
  readonly concurrency: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #onHashed: HashQueueOptions['onHashed'];

  constructor(inner: Hasher, options: HashQueueOptions) {
    this.concurrency = Math.max(1, options.concurrency);
    this.#onHashed = options.onHashed;
    this.hasher = {
      hashPassword: (password) => this.#run('hash_password', () => inner.hashPassword(password)),
      verifyPassword: (hash, password) =>
        this.#run('verify_password', () => inner.verifyPassword(hash, password)),
      codeDigest: (code, salt) => this.#run('code_digest', () => inner.codeDigest(code, salt)),
    };
  }

  /** argon2id calls waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** argon2id calls running now. */
  get running(): number {
    return this.#running;
  }

  async #run<T>(operation: HashOperation, work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrency) {
      await new Promise<void>((turn) => this.#waiting.push(turn));
    } else {
      this.#running++;
    }
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.#onHashed?.(operation, (performance.now() - started) / 1000);
      // The slot passes straight to the next in line, so `running` never overshoots.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
