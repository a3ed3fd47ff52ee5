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
  /**
   * Lists ahead of their file: reservations recorded but not yet written. A reservation is counted
   * here, under the address's lock, before any hashing; it is written only when the attempt is
   * settled (keepIpAttempts, beside the account's own write, in one batch of the file writer) or
   * given back. Nothing is answered before that write, so a crash while hashing loses only a
   * reservation whose attempt was never answered. Out of the LRU: an entry leaves only by a write.
   */
  readonly #unwritten = new Map<string, readonly string[]>();

  constructor(dataDir: string, fs: StoreFs) {
    this.dir = join(dataDir, 'ip-failures');
    this.#fs = fs;
  }

  idle(): Promise<void> {
    return this.#ipLocks.idle();
  }

  async reserveIpAttempt(ip: string, since: string, limit: number, at: string): Promise<boolean> {
    const name = ipFileName(ip);
    return this.#ipLocks.run(name, async () => {
      // Counted and recorded under one lock: concurrent attempts cannot all see room for one more.
      const recent = (await this.#latest(name)).filter((t) => !(t < since));
      if (recent.length >= limit) return false;
      this.#unwritten.set(name, [...recent, at].slice(-MAX_IP_FAILURES));
      return true;
    });
  }

  /** Writes the address's reservations, if any are unwritten; resolves once they are durable. */
  keepIpAttempts(ip: string): Promise<void> {
    return this.#writeUnwrittenOf(ipFileName(ip));
  }

  async releaseIpAttempt(ip: string, at: string): Promise<void> {
    const name = ipFileName(ip);
    await this.#ipLocks.run(name, async () => {
      const written = await this.#readIpFailures(name);
      const failures = [...(this.#unwritten.get(name) ?? written)];
      const index = failures.lastIndexOf(at);
      if (index === -1) return;
      failures.splice(index, 1);
      // A reservation that never reached the file is given back in memory alone.
      if (!written.includes(at)) this.#unwritten.set(name, failures);
      else await this.#write(name, failures);
    });
  }

  /**
   * Writes every address's unwritten reservations: the store is closing, and what it counted should
   * outlive it. One that cannot be written is logged, and the store closes anyway (no answer was
   * given for it).
   */
  async writeUnwritten(): Promise<void> {
    for (const name of [...this.#unwritten.keys()]) {
      await this.#writeUnwrittenOf(name).catch((error) =>
        logError('ip-failures file not written at close', error),
      );
    }
  }

  /** Writes the list of the address named `name` under its lock, if it holds unwritten reservations. */
  async #writeUnwrittenOf(name: string): Promise<void> {
    await this.#ipLocks.run(name, async () => {
      const unwritten = this.#unwritten.get(name);
      if (unwritten) await this.#write(name, [...unwritten]);
    });
  }

  /** Counts the failures at or after `since`, and prunes the older ones of this address. */
  async countIpFailures(ip: string, since: string): Promise<number> {
    const name = ipFileName(ip);
    const sinceMs = Date.parse(since);
    const isRecent = (at: string) => !(Date.parse(at) < sinceMs);
    const failures = this.#unwritten.get(name) ?? this.#failures.get(name) ?? (await this.#readFile(name));
    const recent = failures.filter(isRecent).length;
    if (recent < failures.length) {
      await this.#ipLocks.run(name, async () => {
        await this.#write(name, (await this.#latest(name)).filter(isRecent));
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

  /** The address's list with its unwritten reservations; call under the address's lock. Do not change it. */
  async #latest(name: string): Promise<readonly string[]> {
    return this.#unwritten.get(name) ?? (await this.#readIpFailures(name));
  }

  /** The address's list as its file holds it, from memory or the file; call under the address's lock. Do not change it. */
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
    this.#unwritten.delete(name);
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

/** Names of the addresses seen lately: an attempt needs its address's name two or three times. */
const fileNames = new LruCache<string, string>(CACHED_ADDRESSES);

/** Hashed so the file name neither reveals the address nor depends on what characters it holds. */
function ipFileName(ip: string): string {
  let name = fileNames.get(ip);
  if (name === undefined) {
    name = sha256Hex(ip);
    fileNames.set(ip, name);
  }
  return name;
}
