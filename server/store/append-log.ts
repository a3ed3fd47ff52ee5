/**
 * An append-only JSON-lines file with group commit: the lines appended while one fsync runs are
 * written and synced together by the next, so each append still resolves only once it is on disk
 * but many concurrent appends cost one fsync.
 */
import { constants } from 'node:fs';
import { access, type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDirectory } from './durable-json-file';

interface Pending {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

export class AppendLog {
  #handle: FileHandle | null = null;
  /** Bytes known to be on disk, all of them whole lines: readers never look past it. */
  #size = 0;
  #queue: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #paused = false;

  constructor(readonly path: string) {}

  /**
   * Opens (or creates) the file. A line torn by a crash is cut off here, so it is never read and
   * the next append starts on a line of its own.
   */
  async open(): Promise<void> {
    const existed = await access(this.path, constants.F_OK).then(
      () => true,
      () => false,
    );
    // 'a+': O_APPEND, so every write lands at the end whatever else reads the file.
    const handle = await open(this.path, 'a+', 0o600);
    this.#handle = handle;
    if (!existed) await syncDirectory(dirname(this.path));
    const { size } = await handle.stat();
    const end = await this.#endOfLastLine(size);
    if (end < size) {
      await handle.truncate(end);
      await handle.sync();
    }
    this.#size = end;
  }

  /** Appends one line (no newline inside); resolves once it is on disk. */
  append(line: string): Promise<void> {
    if (!this.#handle) return Promise.reject(new Error(`${this.path} is not open.`));
    if (line.includes('\n')) return Promise.reject(new Error('A log line cannot contain a newline.'));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ line, resolve, reject });
      this.#kick();
    });
  }

  /**
   * Runs `replace` while no append is being written, then empties the file: for compaction, once
   * `replace` has durably saved everything the lines said. Lines appended meanwhile wait and are
   * written after, so none is lost; `replace` must therefore tolerate a line being replayed twice.
   */
  async rewrite(replace: () => Promise<void>): Promise<void> {
    const handle = this.#requireHandle();
    while (this.#flushing) await this.#flushing;
    this.#paused = true;
    try {
      await replace();
      await handle.truncate(0);
      await handle.sync();
      this.#size = 0;
    } finally {
      this.#paused = false;
      this.#kick();
    }
  }

  /** Every whole line, oldest first. */
  async readAll(): Promise<string[]> {
    const handle = this.#requireHandle();
    const size = this.#size;
    if (size === 0) return [];
    const buffer = Buffer.alloc(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(buffer, offset, size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return splitLines(buffer.subarray(0, offset).toString('utf8'));
  }

  /** Whole lines newest first, reading backwards from the end so a long log costs only what is read. */
  async *readBackwards(): AsyncGenerator<string> {
    const handle = this.#requireHandle();
    let position = this.#size;
    let carry = Buffer.alloc(0);
    while (position > 0) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      await readFully(handle, chunk, position);
      let data = Buffer.concat([chunk, carry]);
      // Everything after the first newline is whole lines; the part before may continue further back.
      const first = position > 0 ? data.indexOf(NEWLINE) : -1;
      carry = first >= 0 ? data.subarray(0, first + 1) : Buffer.alloc(0);
      data = first >= 0 ? data.subarray(first + 1) : data;
      const lines = splitLines(data.toString('utf8'));
      for (let i = lines.length - 1; i >= 0; i--) yield lines[i] as string;
    }
    for (const line of splitLines(carry.toString('utf8')).reverse()) yield line;
  }

  /** Waits for the appends already made, then closes the file. */
  async close(): Promise<void> {
    // Each flush chains the next one before it settles, so this drains the whole queue.
    while (this.#flushing) await this.#flushing;
    await this.#handle?.close();
    this.#handle = null;
  }

  #kick(): void {
    if (this.#flushing || this.#paused || this.#queue.length === 0 || !this.#handle) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = null;
      this.#kick();
    });
  }

  async #flush(): Promise<void> {
    const handle = this.#requireHandle();
    const batch = this.#queue.splice(0);
    const buffer = Buffer.from(batch.map((pending) => `${pending.line}\n`).join(''), 'utf8');
    try {
      let written = 0;
      while (written < buffer.length) {
        const { bytesWritten } = await handle.write(buffer, written, buffer.length - written);
        written += bytesWritten;
      }
      await handle.datasync();
      this.#size += buffer.length;
    } catch (error) {
      // Cut back what this failed batch may have written, so a retry does not follow half a line.
      await handle.truncate(this.#size).catch(() => {});
      for (const pending of batch) pending.reject(error);
      return;
    }
    for (const pending of batch) pending.resolve();
  }

  /** The length of the file up to and including its last newline. */
  async #endOfLastLine(size: number): Promise<number> {
    const handle = this.#requireHandle();
    let position = size;
    while (position > 0) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      await readFully(handle, chunk, position);
      const last = chunk.lastIndexOf(NEWLINE);
      if (last >= 0) return position + last + 1;
    }
    return 0;
  }

  #requireHandle(): FileHandle {
    if (!this.#handle) throw new Error(`${this.path} is not open.`);
    return this.#handle;
  }
}

async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, position + offset);
    if (bytesRead === 0) throw new Error('The log file shrank while it was being read.');
    offset += bytesRead;
  }
}

function splitLines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}
