/**
 * What the lowdb record modules (users, tokens, addresses, unknown names) share: which names may
 * become file names, how many files are read at once, when a file counts as abandoned, and how an
 * unreadable file is reported.
 */
import { createHash } from 'node:crypto';
import type { StoreFs } from '../fs';
import { CorruptFileError } from './durable-json-file';

/** Ids and hashes become file names: anything but these characters could walk out of the directory. */
export const SAFE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** Files read at once when a call must visit many (listUsers, deleteTokensOfUser). */
export const READ_CONCURRENCY = 16;
/** A file untouched this long (and a token expired this long) is abandoned. */
export const SWEEP_AGE_MS = 24 * 60 * 60_000;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** True when the file exists and was last written before `cutoff` (epoch ms). */
export async function isStale(fs: StoreFs, path: string, cutoff: number): Promise<boolean> {
  const stats = await fs.stat(path).catch(() => null);
  return stats !== null && stats.mtimeMs < cutoff;
}

export function logError(msg: string, error: unknown): void {
  // The path and reason only: never a file's content, which may hold hashes or secrets.
  const path = error instanceof CorruptFileError ? error.path : undefined;
  console.error(JSON.stringify({ level: 'error', msg, path, error: String(error) }));
}

export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
