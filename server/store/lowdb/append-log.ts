/**
 * An append-only JSON-lines file with group commit: the lines appended while one fsync runs are
 * written and synced together by the next, so each append still resolves only once it is on disk
 * but many concurrent appends cost one fsync.
 */
import { dirname } from 'node:path';
import { nodeFs, type StoreFileHandle, type StoreFs, syncDirectory } from '../fs';

interface Pending {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Where a line sits in the file, in bytes; `length` leaves out its newline. */
export interface LineSpan {
  offset: number;
  length: number;
}

export interface AppendLogOptions {
  /**
   * Called for each appended line, in file order, once it is on disk and before its append
   * resolves: an index kept by it never lags behind what readers can see, nor runs ahead of it.
   * It must not throw: the lines are already on disk and their appends must still resolve.
   */
  onAppend?: (line: string, span: LineSpan) => void;
  /** Called when a rewrite has emptied the file: every span known before is void. */
  onEmptied?: () => void;
  /**
   * Whether the text after the last newline is a whole line that lost only its newline (a crash
   * between the two): such a line is kept and its newline written, rather than cut with a torn one.
   */
  isWholeLine?: (text: string) => boolean;
  fs?: StoreFs;
}

const CHUNK = 64 * 1024;
/** The forward scan at open reads bigger pieces: it reads everything once, so fewer calls matter. */
const SCAN_CHUNK = 1024 * 1024;
const NEWLINE = 0x0a;

export class AppendLog {
  #handle: StoreFileHandle | null = null;
  /** Handles of files rotated away: a read that started before the rotation may still use them. */
  readonly #retired: StoreFileHandle[] = [];
  readonly #fs: StoreFs;
  /** Bytes known to be on disk, all of them whole lines: readers never look past it. */
  #size = 0;
  /** A failed batch could not be cut back: the file may run past #size until a truncate succeeds. */
  #dirty = false;
  #bytesRead = 0;
  #queue: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #paused = false;
  readonly #options: AppendLogOptions;

  constructor(
    readonly path: string,
    options: AppendLogOptions = {},
  ) {
    this.#options = options;
    this.#fs = options.fs ?? nodeFs;
  }

  /** Bytes of whole lines on disk. */
  get size(): number {
    return this.#size;
  }

  /** Bytes read from the file since this object was made: lets a test see what a query costs. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /**
   * Opens (or creates) the file. A line torn by a crash is cut off here, so it is never read and
   * the next append starts on a line of its own.
   */
  async open(): Promise<void> {
    const existed = await this.#fs.stat(this.path).then(
      () => true,
      () => false,
    );
    // 'a+': O_APPEND, so every write lands at the end whatever else reads the file.
    const handle = await this.#fs.open(this.path, 'a+', 0o600);
    this.#handle = handle;
    if (!existed) await syncDirectory(this.#fs, dirname(this.path));
    const { size } = await handle.stat();
    let end = await this.#endOfLastLine(size);
    if (end < size) {
      const tail = Buffer.alloc(size - end);
      await this.#readFully(handle, tail, end);
      if (this.#options.isWholeLine?.(tail.toString('utf8'))) {
        const newline = Buffer.from('\n');
        await handle.write(newline, 0, 1);
        end = size + 1;
      } else {
        await handle.truncate(end);
      }
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
    // Paused first: waiting for the flush in progress, then for each next one, could wait forever
    // under a steady stream of appends.
    this.#paused = true;
    try {
      while (this.#flushing) await this.#flushing;
      await replace();
      await handle.truncate(0);
      await handle.sync();
      this.#size = 0;
      this.#options.onEmptied?.();
    } finally {
      this.#paused = false;
      this.#kick();
    }
  }

  /**
   * Renames the file to `target` (in the same directory) and carries on in a new empty file at
   * `path`: log rotation. Appends wait meanwhile; the old handle stays open for readers until close.
   */
  async rotate(target: string): Promise<void> {
    const handle = this.#requireHandle();
    this.#paused = true;
    try {
      while (this.#flushing) await this.#flushing;
      await this.#fs.rename(this.path, target);
      const fresh = await this.#fs.open(this.path, 'a+', 0o600);
      // One directory fsync makes both the rename and the new file durable.
      await syncDirectory(this.#fs, dirname(this.path));
      this.#retired.push(handle);
      this.#handle = fresh;
      this.#size = 0;
      this.#options.onEmptied?.();
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
    this.#bytesRead += offset;
    return splitLines(buffer.subarray(0, offset).toString('utf8'));
  }

  /**
   * Calls `visit` for every whole line, oldest first, with where it sits: one pass over the file
   * in large pieces, for building an index at open.
   */
  async scan(visit: (line: string, span: LineSpan) => void): Promise<void> {
    const handle = this.#requireHandle();
    const size = this.#size;
    let start = 0;
    while (start < size) {
      const chunk = Buffer.alloc(Math.min(SCAN_CHUNK, size - start));
      await this.#readFully(handle, chunk, start);
      let lineStart = 0;
      for (let end = chunk.indexOf(NEWLINE); end >= 0; end = chunk.indexOf(NEWLINE, lineStart)) {
        if (end > lineStart) {
          visit(chunk.toString('utf8', lineStart, end), {
            offset: start + lineStart,
            length: end - lineStart,
          });
        }
        lineStart = end + 1;
      }
      // A line longer than the chunk is read again whole: #size ends on a newline, so one is coming.
      if (lineStart === 0) {
        const line = await this.#readLineFrom(handle, start, size);
        visit(line.text, { offset: start, length: line.length });
        start += line.length + 1;
      } else {
        start += lineStart;
      }
    }
  }

  /**
   * Whole lines oldest first, up to the size the file had when this was called: lines appended
   * meanwhile are left out, so a reader gets one point in the log's history (for backups).
   */
  async *readForward(): AsyncGenerator<string> {
    const handle = this.#requireHandle();
    const size = this.#size;
    let start = 0;
    // Bytes, not text: a chunk may end inside a character.
    let carry = Buffer.alloc(0);
    // A small first read: a caller wanting only the first line (a file's first time) reads little.
    let chunkSize = CHUNK;
    while (start < size) {
      const chunk = Buffer.alloc(Math.min(chunkSize, size - start));
      chunkSize = SCAN_CHUNK;
      await this.#readFully(handle, chunk, start);
      start += chunk.length;
      const data = Buffer.concat([carry, chunk]);
      const last = data.lastIndexOf(NEWLINE);
      carry = data.subarray(last + 1);
      for (const line of splitLines(data.toString('utf8', 0, last + 1))) yield line;
    }
    // #size ends on a newline, so nothing is left over.
  }

  /**
   * The lines at `spans`, in the order given, each read on its own. Throws when a span does not
   * hold exactly one whole line (a newline right before and right after), so a stale index is
   * never trusted.
   */
  async readSpans(spans: readonly LineSpan[]): Promise<string[]> {
    const handle = this.#requireHandle();
    const size = this.#size;
    return Promise.all(
      spans.map(async ({ offset, length }) => {
        if (offset < 0 || offset + length >= size) throw new Error(`${this.path}: no line at ${offset}.`);
        // The newlines either side come too: a span that is not exactly one line is refused.
        const before = offset > 0 ? 1 : 0;
        const buffer = Buffer.alloc(before + length + 1);
        await this.#readFully(handle, buffer, offset - before);
        const first = buffer.indexOf(NEWLINE, before);
        if ((before === 1 && buffer[0] !== NEWLINE) || first !== before + length) {
          throw new Error(`${this.path}: no line at ${offset}.`);
        }
        return buffer.toString('utf8', before, before + length);
      }),
    );
  }

  /**
   * Whole lines newest first, reading backwards from the end so a long log costs only what is read.
   * `end` (a line's offset) starts the reading before that line instead.
   */
  async *readBackwards(end?: number): AsyncGenerator<string> {
    for await (const { text } of this.readBackwardsAt(end)) yield text;
  }

  /** readBackwards with where each line starts, so a reader can resume before it (paging). */
  async *readBackwardsAt(end?: number): AsyncGenerator<{ text: string; offset: number }> {
    const handle = this.#requireHandle();
    let position = Math.min(end ?? this.#size, this.#size);
    let carry = Buffer.alloc(0);
    while (position > 0) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      await this.#readFully(handle, chunk, position);
      const data = Buffer.concat([chunk, carry]);
      // Everything after the first newline is whole lines; the part before may continue further back.
      const first = position > 0 ? data.indexOf(NEWLINE) : -1;
      carry = first >= 0 ? data.subarray(0, first + 1) : Buffer.alloc(0);
      const start = first + 1;
      yield* linesNewestFirst(data.subarray(start), position + start);
    }
    yield* linesNewestFirst(carry, 0);
  }

  /** Waits for the appends already made, then closes the file. */
  async close(): Promise<void> {
    // Each flush chains the next one before it settles, so this drains the whole queue.
    while (this.#flushing) await this.#flushing;
    await this.#handle?.close();
    this.#handle = null;
    for (const retired of this.#retired.splice(0)) await retired.close();
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
    const text = batch.map((pending) => `${pending.line}\n`).join('');
    try {
      // O_APPEND writes at the real end: it must be #size, or every offset handed out would be wrong.
      if (this.#dirty) {
        await handle.truncate(this.#size);
        this.#dirty = false;
      }
      await handle.appendDurably(text);
    } catch (error) {
      // Cut back what this failed batch may have written, so a retry does not follow half a line.
      await handle.truncate(this.#size).then(
        () => {
          this.#dirty = false;
        },
        () => {
          this.#dirty = true;
        },
      );
      for (const pending of batch) pending.reject(error);
      return;
    }
    const { onAppend } = this.#options;
    if (onAppend) {
      let offset = this.#size;
      for (const pending of batch) {
        const length = Buffer.byteLength(pending.line, 'utf8');
        onAppend(pending.line, { offset, length });
        offset += length + 1;
      }
    }
    this.#size += Buffer.byteLength(text, 'utf8');
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
      await this.#readFully(handle, chunk, position);
      const last = chunk.lastIndexOf(NEWLINE);
      if (last >= 0) return position + last + 1;
    }
    return 0;
  }

  /** The line starting at `start` (which runs past one scan chunk), up to its newline. */
  async #readLineFrom(
    handle: StoreFileHandle,
    start: number,
    size: number,
  ): Promise<{ text: string; length: number }> {
    const parts: Buffer[] = [];
    let position = start;
    while (position < size) {
      const chunk = Buffer.alloc(Math.min(SCAN_CHUNK, size - position));
      await this.#readFully(handle, chunk, position);
      const end = chunk.indexOf(NEWLINE);
      parts.push(end >= 0 ? chunk.subarray(0, end) : chunk);
      if (end >= 0) break;
      position += chunk.length;
    }
    const line = Buffer.concat(parts);
    return { text: line.toString('utf8'), length: line.length };
  }

  async #readFully(handle: StoreFileHandle, buffer: Buffer, position: number): Promise<void> {
    let offset = 0;
    while (offset < buffer.length) {
      const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, position + offset);
      if (bytesRead === 0) throw new Error('The log file shrank while it was being read.');
      offset += bytesRead;
      this.#bytesRead += bytesRead;
    }
  }

  #requireHandle(): StoreFileHandle {
    if (!this.#handle) throw new Error(`${this.path} is not open.`);
    return this.#handle;
  }
}

/** The lines of `data` (which starts at file offset `base`) with their offsets, last line first. */
function* linesNewestFirst(data: Buffer, base: number): Generator<{ text: string; offset: number }> {
  const found: Array<{ text: string; offset: number }> = [];
  let lineStart = 0;
  for (let at = data.indexOf(NEWLINE); at >= 0; at = data.indexOf(NEWLINE, lineStart)) {
    if (at > lineStart) found.push({ text: data.toString('utf8', lineStart, at), offset: base + lineStart });
    lineStart = at + 1;
  }
  if (lineStart < data.length)
    found.push({ text: data.toString('utf8', lineStart), offset: base + lineStart });
  for (let i = found.length - 1; i >= 0; i--) yield found[i] as { text: string; offset: number };
}

function splitLines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}
