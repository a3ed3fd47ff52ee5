/**
 * Which lowdb provider records expire when, so that a sweep reads only the records that expired and
 * not every record (a flood of short-lived records would otherwise make every sweep read them all).
 *
 *   oidc/expiry/<end>.names   the file names of the records that expire before <end> (epoch ms; one
 *                             file per 10 minutes of expiry), one per line, appended
 *
 * A record written twice is listed in each bucket its expiries fell in; the sweep judges each record
 * by its own expiry when it reads it, so an entry is only a hint. Appends that arrive together share
 * one write and one fsync.
 */
import { join } from 'node:path';
import { isMissing, type StoreFs, syncDirectory } from '../fs';
import type { KeyedMutex } from './keyed-mutex';

/** The span of expiry times one bucket file covers. */
export const EXPIRY_BUCKET_MS = 10 * 60_000;

const BUCKET_FILE = /^(\d+)\.names$/;

interface Batch {
  names: Set<string>;
  done: Promise<void>;
}

export class ExpiryIndex {
  readonly #pending = new Map<number, Batch>();
  /** Bucket files this process created (or found), whose directory entry is already durable. */
  readonly #known = new Set<number>();

  constructor(
    readonly dir: string,
    private readonly fs: StoreFs,
    private readonly locks: KeyedMutex,
  ) {}

  /** Resolves once `name`'s expiry at `expiresAt` is durably listed. */
  add(name: string, expiresAt: number): Promise<void> {
    const end = (Math.floor(expiresAt / EXPIRY_BUCKET_MS) + 1) * EXPIRY_BUCKET_MS;
    const waiting = this.#pending.get(end);
    if (waiting) {
      waiting.names.add(name);
      return waiting.done;
    }
    const batch: Batch = { names: new Set([name]), done: Promise.resolve() };
    batch.done = this.locks.run(`expiry:${end}`, async () => {
      // Names added from here on go into the next batch, which waits for this one's lock.
      this.#pending.delete(end);
      await this.#append(end, [...batch.names]);
    });
    this.#pending.set(end, batch);
    return batch.done;
  }

  /** The buckets whose every record has expired by `now`, oldest first. */
  async expiredBuckets(now: number): Promise<number[]> {
    const ends = (await this.fs.readdir(this.dir))
      .map((file) => BUCKET_FILE.exec(file)?.[1])
      .filter((end): end is string => end !== undefined)
      .map(Number)
      .filter((end) => end <= now);
    return ends.sort((a, b) => a - b);
  }

  /** The record names a bucket lists (each once). */
  async names(end: number): Promise<string[]> {
    try {
      const text = await this.fs.readFile(this.#path(end), 'utf8');
      return [...new Set(text.split('\n').filter((line) => /^[0-9a-f]{64}$/.test(line)))];
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  }

  /** Forgets a bucket once its records are gone. */
  async remove(end: number): Promise<void> {
    await this.locks.run(`expiry:${end}`, async () => {
      try {
        await this.fs.unlink(this.#path(end));
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
      this.#known.delete(end);
    });
  }

  async #append(end: number, names: string[]): Promise<void> {
    const handle = await this.fs.open(this.#path(end), 'a+', 0o600);
    try {
      const data = Buffer.from(names.map((name) => `${name}\n`).join(''));
      let written = 0;
      while (written < data.length) {
        written += (await handle.write(data, written, data.length - written)).bytesWritten;
      }
      await handle.datasync();
    } finally {
      await handle.close();
    }
    if (!this.#known.has(end)) {
      await syncDirectory(this.fs, this.dir);
      this.#known.add(end);
    }
  }

  #path(end: number): string {
    return join(this.dir, `${end}.names`);
  }
}
