/**
 * Failed attempts per client address in lowdb: ip-failures/<sha256(ip)>.json, counted and recorded
 * under the address's lock.
 */
import { join } from 'node:path';
import { recordNames, type StoreFs } from '../fs';
import { type IpFailures, IpFailuresSchema, parserFor } from '../records';
import { CorruptFileError, DurableJsonFile, removeFileDurably } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { isStale, logError, mapLimit, READ_CONCURRENCY, sha256Hex } from './record-files';

/** Bounds one address's file, so a flood of failures cannot make each write bigger without limit. */
const MAX_IP_FAILURES = 10_000;

const parseIpFailures = parserFor(IpFailuresSchema);

export class LowdbAddresses {
  readonly dir: string;
  readonly #fs: StoreFs;
  readonly #ipLocks = new KeyedMutex();

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
      await this.#ipFile(name).write({ failures: [...recent, at].slice(-MAX_IP_FAILURES) });
      return true;
    });
  }

  async releaseIpAttempt(ip: string, at: string): Promise<void> {
    const name = ipFileName(ip);
    await this.#ipLocks.run(name, async () => {
      const failures = await this.#readIpFailures(name);
      const index = failures.lastIndexOf(at);
      if (index === -1) return;
      failures.splice(index, 1);
      if (failures.length === 0) await removeFileDurably(this.#ipPath(name));
      else await this.#ipFile(name).write({ failures });
    });
  }

  /** Counts the failures at or after `since`, and prunes the older ones of this address. */
  async countIpFailures(ip: string, since: string): Promise<number> {
    const name = ipFileName(ip);
    const sinceMs = Date.parse(since);
    const isRecent = (at: string) => !(Date.parse(at) < sinceMs);
    const failures = await this.#readIpFailures(name);
    const recent = failures.filter(isRecent).length;
    if (recent < failures.length) {
      await this.#ipLocks.run(name, async () => {
        const latest = (await this.#readIpFailures(name)).filter(isRecent);
        if (latest.length === 0) await removeFileDurably(this.#ipPath(name), this.#fs);
        else await this.#ipFile(name).write({ failures: latest });
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
        if (
          (await isStale(this.#fs, this.#ipPath(name), cutoff)) &&
          (await removeFileDurably(this.#ipPath(name), this.#fs))
        )
          removed++;
      });
    });
    return removed;
  }

  /** A damaged failure file starts again from nothing rather than blocking sign-in for that address. */
  async #readIpFailures(name: string): Promise<string[]> {
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
