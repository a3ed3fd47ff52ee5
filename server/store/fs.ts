/**
 * The file-system calls the lowdb store makes, as one small interface: the store runs on node's
 * fs/promises, and the power-loss test runs it over a recorder of the same calls (test/store/power-loss),
 * which then rebuilds every disk state a power cut could leave. A call the store makes outside this
 * interface would escape that proof, so every store file goes through it.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileWriterThread } from './file-writer';

/** An open file: only what the store uses of node's FileHandle (which satisfies it). */
export interface StoreFileHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** At the handle's position; with flag 'a' or 'a+' (O_APPEND) always at the end of the file. */
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  writeFile(data: string, encoding: 'utf8'): Promise<void>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
  /**
   * Writes all of `text` at the end of a file opened with 'a+' and fdatasyncs it: an append that
   * resolves once it is on disk. Always the sequence of `appendStepByStep`; node's runs it on the
   * file-writer thread.
   */
  appendDurably(text: string): Promise<void>;
}

export interface StoreFs {
  /** Flags used: 'r' (a file, or a directory to fsync it), 'wx' (create, fail if it exists), 'a+'. */
  open(path: string, flags: 'r' | 'wx' | 'a+', mode?: number): Promise<StoreFileHandle>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<{ mtimeMs: number; size: number; isDirectory(): boolean }>;
  mkdir(path: string, options: { recursive: true; mode: number }): Promise<unknown>;
  /**
   * Replaces `path` with `text` durably: resolves once the new content and its name survive a power
   * cut, and a crash at any moment leaves the old file or the new one. Always the sequence of
   * `replaceFileStepByStep`; node's runs it on the file-writer thread (./file-writer.ts).
   */
  replaceFile(path: string, text: string): Promise<void>;
}

/** Node's FileHandle, whose durable appends go to the file-writer thread (one message, not two round trips). */
async function openNodeFile(path: string, flags: 'r' | 'wx' | 'a+', mode?: number): Promise<StoreFileHandle> {
  const handle = await fsp.open(path, flags, mode);
  return {
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    write: (buffer, offset, length) => handle.write(buffer, offset, length),
    writeFile: (data, encoding) => handle.writeFile(data, encoding),
    sync: () => handle.sync(),
    datasync: () => handle.datasync(),
    truncate: (length) => handle.truncate(length),
    stat: () => handle.stat(),
    close: () => handle.close(),
    appendDurably: (text) => fileWriterThread().append(handle.fd, text),
  };
}

export const nodeFs: StoreFs = {
  open: openNodeFile,
  readFile: (path, encoding) => fsp.readFile(path, encoding),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  readdir: (path) => fsp.readdir(path),
  stat: (path) => fsp.stat(path),
  mkdir: (path, options) => fsp.mkdir(path, options),
  replaceFile: (path, text) => fileWriterThread().replace(path, text),
};

/**
 * The durable append, one call at a time: every byte written (a short write continues), then an
 * fdatasync. The file-writer thread makes the same calls; this form is the power-loss recorder's.
 */
export async function appendStepByStep(handle: StoreFileHandle, text: string): Promise<void> {
  const buffer = Buffer.from(text, 'utf8');
  let written = 0;
  while (written < buffer.length) {
    written += (await handle.write(buffer, written, buffer.length - written)).bytesWritten;
  }
  await handle.datasync();
}

/**
 * The durable replacement, one call at a time: a temp file in the same directory (exclusive, 0600),
 * its data fsynced, renamed over the target, the directory fsynced. ./file-writer-thread.mjs makes
 * the same calls in the same order; this form is what a StoreFs without that thread (the power-loss
 * test's recorder) runs, and what that test proves.
 */
export async function replaceFileStepByStep(fs: StoreFs, path: string, text: string): Promise<void> {
  const directory = dirname(path);
  // A random suffix: two writers never share a temp file, and a crash leftover never blocks a write.
  const temp = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // 0600: records hold password hashes and sealed secrets.
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
  } catch (error) {
    await fs.unlink(temp).catch(() => {});
    throw error;
  }
  // The rename is only durable once the directory entry itself is on disk.
  await syncDirectory(fs, directory);
}

/** A directory's fsync running now, and the one queued behind it that later callers join. */
interface DirectorySyncs {
  running: Promise<void> | null;
  queued: Promise<void> | null;
}

const directorySyncs = new WeakMap<StoreFs, Map<string, DirectorySyncs>>();

/**
 * fsync of a directory: what makes a create, rename or unlink in it survive a power cut. Resolves
 * once an fsync that started after this call has finished. Concurrent callers share one (group
 * commit, as the audit log's appends do): while an fsync runs, the callers that arrive wait for one
 * more, started when it ends, which covers them all. Under sign-in load most durable writes land in
 * the same few directories at once, and each fsync costs three calls on the thread pool.
 */
export function syncDirectory(fs: StoreFs, directory: string): Promise<void> {
  let byDirectory = directorySyncs.get(fs);
  if (!byDirectory) {
    byDirectory = new Map();
    directorySyncs.set(fs, byDirectory);
  }
  let syncs = byDirectory.get(directory);
  if (!syncs) {
    syncs = { running: null, queued: null };
    byDirectory.set(directory, syncs);
  }
  // Queued, not started: it starts after this caller's rename, so it covers it.
  if (syncs.queued) return syncs.queued;
  const state = syncs;
  const start = (): Promise<void> => {
    const run = fsyncDirectory(fs, directory);
    state.running = run;
    const done = () => {
      if (state.running === run) state.running = null;
    };
    run.then(done, done);
    return run;
  };
  if (!state.running) return start();
  const queued = state.running
    .then(
      () => {},
      () => {},
    )
    .then(() => {
      state.queued = null;
      return start();
    });
  state.queued = queued;
  return queued;
}

async function fsyncDirectory(fs: StoreFs, directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** The records of a directory: `<name>.json` files, without temp files (which start with a dot). */
export async function recordNames(fs: StoreFs, directory: string): Promise<string[]> {
  return (await fs.readdir(directory))
    .filter((file) => file.endsWith('.json') && !file.startsWith('.'))
    .map((file) => file.slice(0, -'.json'.length));
}
