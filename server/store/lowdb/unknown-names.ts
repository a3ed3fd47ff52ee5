/**
 * The password lockout of names no account has, in lowdb: unknown-names/<sha256(name)>.json, so a
 * guess at a name that does not exist is answered as one at an account would be.
 */
import { join } from 'node:path';
import { recordNames, type StoreFs } from '../fs';
import { OPEN_LOCKOUT, parserFor, type UnknownName, UnknownNameSchema, unknownNameKey } from '../records';
import type { Lockout } from '../types';
import { CorruptFileError, DurableJsonFile, removeFileDurably } from './durable-json-file';
import { KeyedMutex } from './keyed-mutex';
import { isStale, logError, mapLimit, READ_CONCURRENCY, SWEEP_AGE_MS } from './record-files';

/** An unknown name that was locked is kept this long: its escalation is what an account's would be. */
const LOCKED_UNKNOWN_NAME_AGE_MS = 30 * SWEEP_AGE_MS;

const parseUnknownName = parserFor(UnknownNameSchema);

export class LowdbUnknownNames {
  readonly dir: string;
  readonly #fs: StoreFs;
  readonly #unknownNameLocks = new KeyedMutex();

  constructor(dataDir: string, fs: StoreFs) {
    this.dir = join(dataDir, 'unknown-names');
    this.#fs = fs;
  }

  idle(): Promise<void> {
    return this.#unknownNameLocks.idle();
  }

  async updateUnknownNameLockout<T>(
    username: string,
    change: (lockout: Lockout) => { lockout: Lockout; result: T },
  ): Promise<T> {
    const name = unknownNameKey(username);
    return this.#unknownNameLocks.run(name, async () => {
      const next = change((await this.#readUnknownName(name))?.lockout ?? OPEN_LOCKOUT);
      await this.#unknownNameFile(name).write({ lockout: next.lockout });
      return next.result;
    });
  }

  /**
   * Removes the names untouched since `cutoff` (LOCKED_UNKNOWN_NAME_AGE_MS for one that was
   * locked); resolves with their number.
   */
  async sweep(cutoff: number): Promise<number> {
    let removed = 0;
    await mapLimit(await recordNames(this.#fs, this.dir), READ_CONCURRENCY, async (name) => {
      const path = this.#unknownNamePath(name);
      // Only a name untouched for a day is read at all: a flood of new names leaves thousands of young ones.
      if (!(await isStale(this.#fs, path, cutoff))) return;
      await this.#unknownNameLocks.run(name, async () => {
        if (!(await isStale(this.#fs, path, cutoff))) return;
        // A name that was locked keeps its escalation for longer, as an account's lockout would.
        const lockout = (await this.#readUnknownName(name))?.lockout ?? OPEN_LOCKOUT;
        if (lockout.locks > 0 || lockout.needsAdminUnlock) {
          const stats = await this.#fs.stat(path).catch(() => null);
          if (!stats || Date.now() - stats.mtimeMs <= LOCKED_UNKNOWN_NAME_AGE_MS) return;
        }
        if (await removeFileDurably(path, this.#fs)) removed++;
      });
    });
    return removed;
  }

  /** A damaged file starts again from an open lockout, as a damaged address file does. */
  async #readUnknownName(name: string): Promise<UnknownName | null> {
    try {
      return await this.#unknownNameFile(name).read();
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      logError('unknown-names file unreadable, starting again', error);
      return null;
    }
  }

  #unknownNamePath(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  #unknownNameFile(name: string): DurableJsonFile<UnknownName> {
    return new DurableJsonFile(this.#unknownNamePath(name), parseUnknownName, this.#fs);
  }
}
