/**
 * A lowdb Adapter whose write is atomic and durable: a crash at any moment leaves either the old
 * or the new file on disk, and a write resolves only once the new file survives a power cut.
 * (lowdb's own TextFile writes through steno, which renames but never fsyncs.)
 */
import { dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { isMissing, nodeFs, type StoreFs, syncDirectory } from '../fs';
import { ChecksumError, seal, unseal } from '../records';

export { isMissing } from '../fs';

/** A file that exists but does not hold what it should (bad JSON or the wrong shape). */
export class CorruptFileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} is corrupt: ${reason}`);
    this.name = 'CorruptFileError';
  }
}

/** Checks what was read from disk and returns it typed, or throws with a short reason. */
export type Parse<T> = (raw: unknown) => T;

// Temp files start with a dot and end in .tmp, so they never look like a record (<id>.json).
const TEMP_FILE = /^\..+\.tmp$/;

export class DurableJsonFile<T> implements Adapter<T> {
  constructor(
    readonly path: string,
    private readonly parse: Parse<T>,
    private readonly fs: StoreFs = nodeFs,
  ) {}

  async read(): Promise<T | null> {
    return (await this.inspect())?.value ?? null;
  }

  /**
   * The record and whether it carries its checksum (a record of the previous version does not);
   * null when the file does not exist. Throws CorruptFileError, saying what is wrong, when the file
   * is empty, not JSON, fails its checksum or does not hold the expected shape.
   */
  async inspect(): Promise<{ value: T; sealed: boolean } | null> {
    let text: string;
    try {
      text = await this.fs.readFile(this.path, 'utf8');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    if (text.length === 0) throw new CorruptFileError(this.path, 'empty (zero bytes)');
    let json: string;
    let sealed: boolean;
    try {
      ({ json, sealed } = unseal(text));
    } catch (error) {
      throw new CorruptFileError(this.path, error instanceof ChecksumError ? error.message : String(error));
    }
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      throw new CorruptFileError(this.path, 'not valid JSON');
    }
    try {
      return { value: this.parse(raw), sealed };
    } catch (error) {
      throw new CorruptFileError(this.path, error instanceof Error ? error.message : 'unexpected content');
    }
  }

  async write(data: T): Promise<void> {
    await writeFileDurably(this.path, seal(JSON.stringify(data)), this.fs);
  }
}

/** Temp file in the same directory, fsync, rename over the target, fsync the directory (StoreFs.replaceFile). */
export function writeFileDurably(path: string, text: string, fs: StoreFs = nodeFs): Promise<void> {
  return fs.replaceFile(path, text);
}

/** Removes a file durably; resolves false when it was not there. Unlink is atomic: one caller wins. */
export async function removeFileDurably(path: string, fs: StoreFs = nodeFs): Promise<boolean> {
  try {
    await fs.unlink(path);
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
  await syncDirectory(fs, dirname(path));
  return true;
}

/**
 * Deletes the temp files a crash left behind in `directory`; returns how many. While writes may be
 * running, pass `olderThan` (epoch ms) so a temp file about to be renamed is left alone.
 */
export async function removeTempFiles(
  directory: string,
  olderThan = Number.POSITIVE_INFINITY,
  fs: StoreFs = nodeFs,
): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(directory)) {
    if (!TEMP_FILE.test(name)) continue;
    const path = join(directory, name);
    const stats = await fs.stat(path).catch(() => null);
    if (!stats || !(stats.mtimeMs < olderThan)) continue;
    if (
      await fs.unlink(path).then(
        () => true,
        () => false,
      )
    )
      removed++;
  }
  return removed;
}
