/**
 * The user index (id, username, lower-cased key, role), held in memory after load.
 *
 * On disk: a lowdb snapshot (index.json) plus a journal of the changes since (index.jsonl). Creating
 * or deleting a user appends one line instead of rewriting the whole index, so filling a store with
 * 100,000 users stays linear; the snapshot is rewritten only once the journal has grown to a share
 * of the index (amortised O(1) per change).
 */
import { Low } from 'lowdb';
import type { StoreFs } from '../fs';
import {
  type IndexChange,
  IndexChangeSchema,
  type IndexEntry,
  type IndexFile,
  IndexFileSchema,
  parserFor,
  seal,
  unseal,
} from '../records';
import { AppendLog } from './append-log';
import { CorruptFileError, DurableJsonFile } from './durable-json-file';

/** The index could not be loaded: the store must not start with an unknown set of accounts. */
export class IndexUnreadableError extends Error {
  constructor(reason: string, options?: { cause: unknown }) {
    super(
      `The user index cannot be read: ${reason}. \`npm run store:check -- --repair\` rebuilds it from the user files.`,
      options,
    );
    this.name = 'IndexUnreadableError';
  }
}

export interface UserIndexOptions {
  /** Compact once the journal holds this many lines, or half the index if that is more. */
  compactAfter?: number;
  fs?: StoreFs;
}

export class UserIndex {
  readonly #byId = new Map<string, IndexEntry>();
  readonly #idByKey = new Map<string, string>();
  readonly #snapshot: Low<IndexFile>;
  readonly #journal: AppendLog;
  readonly #compactAfter: number;
  #journalLines = 0;
  #compaction: Promise<void> | null = null;

  constructor(snapshotPath: string, journalPath: string, options: UserIndexOptions = {}) {
    this.#snapshot = new Low(new DurableJsonFile(snapshotPath, parserFor(IndexFileSchema), options.fs), {
      version: 1,
      users: [],
    });
    this.#journal = new AppendLog(journalPath, {
      fs: options.fs,
      isWholeLine: (text) => parseChange(text) !== null,
    });
    this.#compactAfter = options.compactAfter ?? 1024;
  }

  async load(): Promise<void> {
    try {
      await this.#snapshot.read();
    } catch (error) {
      const reason = error instanceof CorruptFileError ? error.message : String(error);
      throw new IndexUnreadableError(reason, { cause: error });
    }
    for (const entry of this.#snapshot.data.users) this.#apply({ op: 'put', entry });
    // Free the parsed snapshot: the maps are the index from now on.
    this.#snapshot.data = { version: 1, users: [] };

    await this.#journal.open();
    try {
      const lines = await this.#journal.readAll();
      lines.forEach((line, i) => {
        const change = parseChange(line);
        // A torn last line was already cut at open; a bad line inside means the file was damaged.
        if (!change) throw new IndexUnreadableError(`${this.#journal.path} line ${i + 1} is corrupt`);
        this.#apply(change);
      });
      this.#journalLines = lines.length;
    } catch (error) {
      await this.#journal.close();
      throw error;
    }
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): IndexEntry | undefined {
    return this.#byId.get(id);
  }

  idOfKey(key: string): string | undefined {
    return this.#idByKey.get(key);
  }

  entries(): IndexEntry[] {
    return [...this.#byId.values()];
  }

  /** Adds or replaces an entry; visible at once, resolves once durable. */
  put(entry: IndexEntry): Promise<void> {
    return this.#record({ op: 'put', entry: { ...entry } });
  }

  remove(id: string): Promise<void> {
    return this.#record({ op: 'delete', id });
  }

  async close(): Promise<void> {
    await this.#compaction;
    await this.#journal.close();
  }

  async #record(change: IndexChange): Promise<void> {
    const id = change.op === 'put' ? change.entry.id : change.id;
    const previous = this.#byId.get(id);
    // Applied before the line is durable, so a snapshot taken meanwhile includes it (replay is idempotent).
    this.#apply(change);
    try {
      await this.#journal.append(seal(JSON.stringify(change)));
    } catch (error) {
      // The line did not reach the disk (the log cut it back): memory goes back to match the files.
      this.#apply(previous ? { op: 'put', entry: previous } : { op: 'delete', id });
      throw error;
    }
    this.#journalLines++;
    if (!this.#compaction && this.#journalLines >= Math.max(this.#compactAfter, this.#byId.size / 2)) {
      this.#compaction = this.#compact().finally(() => {
        this.#compaction = null;
      });
    }
  }

  async #compact(): Promise<void> {
    try {
      await this.#journal.rewrite(async () => {
        // Captured before the first await: exactly the changes applied so far.
        const linesCovered = this.#journalLines;
        await this.#snapshot.adapter.write({ version: 1, users: this.entries() });
        this.#journalLines -= linesCovered;
      });
    } catch (error) {
      // Nothing is lost: the journal still holds every change, and the next change retries.
      console.error(
        JSON.stringify({ level: 'error', msg: 'user index compaction failed', error: String(error) }),
      );
    }
  }

  #apply(change: IndexChange): void {
    if (change.op === 'put') {
      const previous = this.#byId.get(change.entry.id);
      if (previous && this.#idByKey.get(previous.key) === previous.id) this.#idByKey.delete(previous.key);
      this.#byId.set(change.entry.id, change.entry);
      this.#idByKey.set(change.entry.key, change.entry.id);
    } else {
      const previous = this.#byId.get(change.id);
      if (!previous) return;
      this.#byId.delete(change.id);
      if (this.#idByKey.get(previous.key) === previous.id) this.#idByKey.delete(previous.key);
    }
  }
}

/** One journal line, checked against its checksum (a line of the previous version has none); null if damaged. */
export function parseChange(line: string): IndexChange | null {
  try {
    return IndexChangeSchema.parse(JSON.parse(unseal(line).json));
  } catch {
    return null;
  }
}
