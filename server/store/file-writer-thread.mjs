// @ts-check
/**
 * The store's durable file replacements and log appends, run on a thread of their own
 * (./file-writer.ts starts it).
 * Plain JavaScript: it is loaded as it is, from server/ and from the compiled dist/server/ alike
 * (Node 20 cannot give a worker thread the TypeScript loader).
 *
 * Each replacement is the sequence of ./fs.ts `replaceFileStepByStep`, the one the power-loss test
 * proves: a new temp file beside the target (exclusive, 0600), its data written and fsynced, the
 * temp renamed over the target, the directory fsynced. Here the calls are synchronous, on this
 * thread: the event loop pays one message per batch of files instead of eight file-system round
 * trips per file. Each message is a batch (the requests made while the one before ran), and each
 * directory of a batch is fsynced once, after all its renames (a group commit, like syncDirectory's).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parentPort } from 'node:worker_threads';

/**
 * A replacement of the file at `path`, or an append to the open file `fd` (durable once fdatasynced).
 * @typedef {{ id: number, path: string, text: string } | { id: number, fd: number, text: string }} Request
 */
/** @typedef {{ id: number, error: { message: string, code?: string } | null }} Reply */

/**
 * Writes every byte of `text` to `fd`: a short write continues where it stopped.
 * @param {number} fd
 * @param {string} text
 */
function writeWhole(fd, text) {
  const data = Buffer.from(text, 'utf8');
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written, data.length - written);
}

/** @param {unknown} error */
function describe(error) {
  const { message, code } = /** @type {NodeJS.ErrnoException} */ (error);
  return { message: String(message), ...(code ? { code } : {}) };
}

/**
 * Writes `text` to a temp file beside `path` and renames it over `path`; throws, leaving no temp
 * file, if any step fails. The directory is fsynced by the caller.
 * @param {string} path
 * @param {string} text
 */
function writeAndRename(path, text) {
  // A random suffix: two writers never share a temp file, and a crash leftover never blocks a write.
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // 0600: records hold password hashes and sealed secrets.
  const fd = openSync(temp, 'wx', 0o600);
  try {
    try {
      writeWhole(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // already renamed, or never created
    }
    throw error;
  }
}

/**
 * Appends `text` at the end of the open file `fd` (opened with O_APPEND) and fdatasyncs it: the
 * sequence of ./fs.ts `appendStepByStep`.
 * @param {number} fd
 * @param {string} text
 */
function appendAndSync(fd, text) {
  writeWhole(fd, text);
  fdatasyncSync(fd);
}

/** @param {string} directory */
function fsyncDirectory(directory) {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * @param {Request[]} batch
 * @returns {Reply[]}
 */
function writeAll(batch) {
  /** @type {Map<number, Reply['error']>} */
  const failed = new Map();
  /** @type {Map<string, number[]>} */
  const renamedIn = new Map();
  for (const request of batch) {
    try {
      if ('fd' in request) {
        appendAndSync(request.fd, request.text);
        continue;
      }
      writeAndRename(request.path, request.text);
      const directory = dirname(request.path);
      renamedIn.set(directory, [...(renamedIn.get(directory) ?? []), request.id]);
    } catch (error) {
      failed.set(request.id, describe(error));
    }
  }
  // The renames are durable only once their directory is: a failed fsync fails each of them.
  for (const [directory, ids] of renamedIn) {
    try {
      fsyncDirectory(directory);
    } catch (error) {
      for (const id of ids) failed.set(id, describe(error));
    }
  }
  return batch.map(({ id }) => ({ id, error: failed.get(id) ?? null }));
}

const port = parentPort;
if (port) {
  // The event loop sends the next batch only once this one is answered (./file-writer.ts).
  port.on('message', (/** @type {Request[]} */ batch) => {
    port.postMessage(writeAll(batch));
  });
}
