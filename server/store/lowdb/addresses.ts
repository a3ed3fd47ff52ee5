/**
 * Failed attempts per client address in lowdb: ip-failures/<sha256(ip)>.json, counted and recorded
 * under the address's lock.
 */
import { join } from 'node:path';
import { recordNames, type StoreFs } from '../fs';
import { LruCache } from '../lru-cache';
import { type IpFailures, IpFailuresSchema, parserFor } from '../records';
import { CorruptFileError, DurableJsonFile, removeFileDurably } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { isStale, logError, mapLimit, READ_CONCURRENCY, sha256Hex } from './record-files';

/** Bounds one address's file, so a flood of failures cannot make each write bigger without limit. */
const MAX_IP_FAILURES = 10_000;
/** Addresses whose failure list is kept in memory after a read or write under their lock. */
const CACHED_ADDRESSES = 1000;

const parseIpFailures = parserFor(IpFailuresSchema);

export class LowdbAddresses {
  readonly dir: string;
  readonly #fs: StoreFs;
  readonly #ipLocks = new KeyedMutex();
  /**
   * Each address's list as its file holds it, set only under the address's lock by what read or wrote
   * the file, so a reservation (every sign-in attempt) reads no file and parses nothing. This process
   * is the only writer of DATA_DIR (dir-lock.ts).
   */
  readonly #failures = new LruCache<string, readonly string[]>(CACHED_ADDRESSES);

  constructor(dataDir: string, fs: StoreFs) {
    this.dir = join(dataDir, 'ip-failures');
    this.#fs = fs;
  }

  idle(): Promise<void> {
    return this.#ipLocks.idle();
  }

  async reserveIpAttempt(ip: string, since: string, limit: number, at: string): Promise<boolean> {
    const name = ipFileName(ip);
    const sinceMs = Date.parse(since);
    return this.#ipLocks.run(name, async () => {
      // Counted and recorded under one lock: concurrent attempts cannot all see room for one more.
      const recent = (await this.#readIpFailures(name)).filter((t) => !(Date.parse(t) < sinceMs));
      if (recent.length >= limit) return false;
      await this.#write(name, [...recent, at].slice(-MAX_IP_FAILURES));
      return true;
    });
  }

  async releaseIpAttempt(ip: string, at: string): Promise<void> {
    const name = ipFileName(ip);
    await this.#ipLocks.run(name, async () => {
      const failures = [...(await this.#readIpFailures(name))];
      const index = failures.lastIndexOf(at);
      if (index === -1) return;
      failures.splice(index, 1);
      await this.#write(name, failures);
    });
  }

  /** Counts the failures at or after `since`, and prunes the older ones of this address. */
  async countIpFailures(ip: string, since: string): Promise<number> {
    const name = ipFileName(ip);
    const sinceMs = Date.parse(since);
    const isRecent = (at: string) => !(Date.parse(at) < sinceMs);
    const failures = this.#failures.get(name) ?? (await this.#readFile(name));
    const recent = failures.filter(isRecent).length;
    if (recent < failures.length) {
      await this.#ipLocks.run(name, async () => {
        await this.#write(name, (await this.#readIpFailures(name)).filter(isRecent));
      });
    }
    return recent;
  }

  /** Removes the address files untouched since `cutoff`; resolves with their number. */
  async sweep(cutoff: number): Promise<number> {
    let removed = 0;
    await mapLimit(await recordNames(this.#fs, this.dir), READ_CONCURRENCY, async (name) => {
      // Failures that old are outside any lockout window a server would use.
      if (!(await isStale(this.#fs, this.#ipPath(name), cutoff))) return;
      await this.#ipLocks.run(name, async () => {
        if (!(await isStale(this.#fs, this.#ipPath(name), cutoff))) return;
        this.#failures.delete(name);
        if (await removeFileDurably(this.#ipPath(name), this.#fs)) removed++;
      });
    });
    return removed;
  }

  /** The address's list, from memory or its file; call under the address's lock. Do not change it. */
  async #readIpFailures(name: string): Promise<readonly string[]> {
    const cached = this.#failures.get(name);
    if (cached) return cached;
    const failures = await this.#readFile(name);
    this.#failures.set(name, failures);
    return failures;
  }

  /** The new list durably on disk (no file for none), then in memory; call under the address's lock. */
  async #write(name: string, failures: string[]): Promise<void> {
    try {
      if (failures.length === 0) await removeFileDurably(this.#ipPath(name), this.#fs);
      else await this.#ipFile(name).write({ failures });
    } catch (error) {
      // The file may or may not have been replaced: the next call reads it.
      this.#failures.delete(name);
      throw error;
    }
    this.#failures.set(name, failures);
  }

  /** A damaged failure file starts again from nothing rather than blocking sign-in for that address. */
  async #readFile(name: string): Promise<string[]> {
    try {
      return (await this.#ipFile(name).read())?.failures ?? [];
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      logError('ip-failures file unreadable, starting again', error);
      return [];
    }
  }

  #ipPath(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  #ipFile(name: string): DurableJsonFile<IpFailures> {
    return new DurableJsonFile(this.#ipPath(name), parseIpFailures, this.#fs);
  }
}

/** Hashed so the file name neither reveals the address nor depends on what characters it holds. */
function ipFileName(ip: string): string {
  return sha256Hex(ip);
}
