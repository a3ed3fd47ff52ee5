/**
 * The audit log: events appended one JSON line each (./append-log.ts), listed newest first. A query
 * for a user or a type reads only the lines the in-memory index (./audit-index.ts) points to, so a
 * user polling their events costs the same whatever the size of the log; a query for neither reads
 * backwards from the end and stops at its limit.
 *
 * Retention: the active file (audit.jsonl) is renamed to audit-<seq>.jsonl once it reaches
 * `rotateBytes`, and rotated files are deleted once their newest event is older than
 * `retentionDays`, or beyond `retentionFiles`. Opening scans only the active file, so start-up does
 * not grow with the history kept. Pages (cursor-based) reach back through the rotated files, one
 * file at most per page, so no request reads more than one file's worth.
 */
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import type { AuditEvent } from '../../../shared/api';
import { nodeFs, type StoreFs, syncDirectory } from '../fs';
import { AuditEventSchema, lineJson, seal, unseal } from '../records';
import { type AuditPage, type AuditQuery, InvalidCursorError } from '../types';
import { AppendLog, type LineSpan } from './append-log';
import { AuditIndex } from './audit-index';

export { InvalidCursorError } from '../types';

/** Indexed lines read at once: enough to fill a page in one round, few enough to bound buffers. */
const READ_BATCH = 64;
const DAY_MS = 24 * 60 * 60_000;

export interface AuditLogOptions {
  /** Lines remembered per user and per event type (default 500, the API's largest page). */
  indexDepth?: number;
  fs?: StoreFs;
  /** The active file is rotated once it holds this many bytes (default 32 MiB). */
  rotateBytes?: number;
  /** Rotated files whose newest event is older than this are deleted (default 400). */
  retentionDays?: number;
  /** At most this many rotated files are kept (default: no limit but the days). */
  retentionFiles?: number | null;
  /** The time retention is judged by (default the system clock). */
  now?: () => number;
}

interface Segment {
  seq: number;
  path: string;
  firstAt: string | null;
  lastAt: string | null;
}

/** Where a page stopped: the file (0 for the active one) and the offset of the last event returned. */
const Cursor = z.object({ s: z.number().int().min(0), o: z.number().int().min(0).nullable() });
type Cursor = z.infer<typeof Cursor>;
const ACTIVE = 0;

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    return Cursor.parse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
  } catch {
    throw new InvalidCursorError();
  }
}

export class AuditLog {
  readonly #index: AuditIndex;
  readonly #log: AppendLog;
  readonly #fs: StoreFs;
  readonly #dir: string;
  readonly #base: string;
  readonly #rotateBytes: number;
  readonly #retentionDays: number;
  readonly #retentionFiles: number | null;
  readonly #now: () => number;
  /** Rotated files, oldest first. */
  #segments: Segment[] = [];
  #rotating: Promise<void> | null = null;

  /** The events being appended, by their line: indexed as they are, without parsing the line back. */
  readonly #appending = new Map<string, AuditEvent>();

  constructor(path: string, options: AuditLogOptions = {}) {
    this.#index = new AuditIndex(options.indexDepth);
    this.#fs = options.fs ?? nodeFs;
    this.#dir = dirname(path);
    this.#base = basename(path, '.jsonl');
    this.#rotateBytes = options.rotateBytes ?? 32 * 1024 * 1024;
    this.#retentionDays = options.retentionDays ?? 400;
    this.#retentionFiles = options.retentionFiles ?? null;
    this.#now = options.now ?? Date.now;
    this.#log = new AppendLog(path, {
      onAppend: (line, span) => this.#index.add(line, span, this.#appending.get(line)),
      onEmptied: () => this.#index.clear(),
      isWholeLine: (text) => parseAuditLine(text) !== null,
      fs: options.fs,
    });
  }

  /** Bytes read from the file so far, the index's one pass at open included. */
  get bytesRead(): number {
    return this.#log.bytesRead;
  }

  /** The rotated files kept, oldest first (their paths). */
  get rotatedFiles(): string[] {
    return this.#segments.map((segment) => segment.path);
  }

  /**
   * Opens the active file (cutting a line torn by a crash) and builds the index in one pass over
   * it; a file already past the rotation size (a log of the previous version) is rotated unread.
   */
  async open(): Promise<void> {
    await this.#log.open();
    this.#index.clear();
    try {
      this.#segments = await this.#listSegments();
      if (this.#log.size >= this.#rotateBytes) await this.#rotate();
      else await this.#log.scan((line, span) => this.#index.add(line, span));
      await this.#prune();
    } catch (error) {
      await this.#log.close();
      throw error;
    }
  }

  /** Resolves once the event is on disk. */
  async append(event: AuditEvent): Promise<void> {
    const line = seal(lineJson(event));
    // Each line holds a new random id, so no two appends in flight share one.
    this.#appending.set(line, event);
    try {
      await this.#log.append(line);
    } finally {
      this.#appending.delete(line);
    }
    if (this.#log.size >= this.#rotateBytes && !this.#rotating) {
      this.#rotating = this.#rotate()
        .catch((error) =>
          console.error(
            JSON.stringify({ level: 'error', msg: 'audit rotation failed', error: String(error) }),
          ),
        )
        .finally(() => {
          this.#rotating = null;
        });
    }
  }

  /**
   * Newest first, at most `limit` events, through every file kept. `userId` matches events where
   * the user is the actor or the subject. Lines that do not parse are skipped.
   */
  async list(query: AuditQuery): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await this.page({ ...query, limit: query.limit - events.length }, cursor ?? undefined);
      events.push(...page.events);
      cursor = page.nextCursor;
    } while (cursor && events.length < query.limit);
    return events;
  }

  /**
   * One page, newest first: from the newest event, or from where `cursor` says the last page
   * stopped. A page reads one file at most, so it may hold fewer than `limit` events while older
   * ones exist: `nextCursor` is null only once the oldest event kept has been passed.
   */
  async page(query: AuditQuery, cursor?: string): Promise<AuditPage> {
    const limit = Math.floor(query.limit);
    if (!(limit > 0)) return { events: [], nextCursor: null };
    const where = cursor ? decodeCursor(cursor) : { s: ACTIVE, o: null };
    const found =
      where.s === ACTIVE
        ? await this.#listActive(query, limit, where.o)
        : await this.#listSegment(query, limit, where);
    const events = found.map((hit) => hit.event);
    const last = found.at(-1);
    if (events.length >= limit && last)
      return { events, nextCursor: encodeCursor({ s: where.s, o: last.offset }) };
    const older = this.#segments.filter((segment) => where.s === ACTIVE || segment.seq < where.s).at(-1);
    return { events, nextCursor: older ? encodeCursor({ s: older.seq, o: null }) : null };
  }

  /** Events with `from` <= at < `to`, oldest first, from the files whose time span meets the range. */
  async *range(fromTime: string, toTime: string): AsyncGenerator<AuditEvent> {
    // Events hold toISOString() times, which compare as text only with times of that same form:
    // "…:00Z" sorts after "…:00.000Z", and an offset sorts anywhere.
    const from = new Date(fromTime).toISOString();
    const to = new Date(toTime).toISOString();
    const inRange = (event: AuditEvent) => event.at >= from && event.at < to;
    for (const segment of [...this.#segments]) {
      if (
        (segment.lastAt !== null && segment.lastAt < from) ||
        (segment.firstAt !== null && segment.firstAt >= to)
      )
        continue;
      const log = await this.#openSegment(segment);
      try {
        for await (const line of log.readForward()) {
          const event = parseAuditLine(line);
          if (event && inRange(event)) yield event;
        }
      } finally {
        await log.close();
      }
    }
    for await (const line of this.#log.readForward()) {
      const event = parseAuditLine(line);
      if (event && inRange(event)) yield event;
    }
  }

  /** Every event kept, oldest first, as the log stood when called; damaged lines are counted, not returned. */
  async *events(damaged: { lines: number }): AsyncGenerator<AuditEvent> {
    for (const segment of [...this.#segments]) {
      const log = await this.#openSegment(segment);
      try {
        for await (const line of log.readForward()) {
          const event = parseAuditLine(line);
          if (event) yield event;
          else damaged.lines++;
        }
      } finally {
        await log.close();
      }
    }
    for await (const line of this.#log.readForward()) {
      const event = parseAuditLine(line);
      if (event) yield event;
      else damaged.lines++;
    }
  }

  /** Waits for the appends already made, then closes the file. */
  async close(): Promise<void> {
    await this.#rotating;
    await this.#log.close();
  }

  /** The active file's matches before offset `before`, newest first, with their offsets. */
  async #listActive(query: AuditQuery, limit: number, before: number | null) {
    const hits: Array<{ event: AuditEvent; offset: number }> = [];
    const matches = matcher(query);
    const end = before ?? Number.POSITIVE_INFINITY;
    const indexed = this.#index.lookup(query);
    if (indexed) {
      const spans = indexed.spans.filter((span) => span.offset < end);
      // The index may hold lines the full parse refuses, so each one is checked as a scanned one would be.
      for (let next = 0; next < spans.length && hits.length < limit; ) {
        const batch: LineSpan[] = spans.slice(next, next + Math.min(READ_BATCH, limit - hits.length));
        next += batch.length;
        const lines = await this.#log.readSpans(batch);
        for (const [i, line] of lines.entries()) {
          const event = parseAuditLine(line);
          if (event && matches(event)) hits.push({ event, offset: (batch[i] as LineSpan).offset });
          if (hits.length >= limit) break;
        }
      }
      if (hits.length >= limit || indexed.olderThan === null) return hits;
    }
    // Without an index, or past what it kept: the lines before where it stops, newest first.
    const from = Math.min(end, indexed?.olderThan ?? Number.POSITIVE_INFINITY);
    for await (const { text, offset } of this.#log.readBackwardsAt(
      Number.isFinite(from) ? from : undefined,
    )) {
      const event = parseAuditLine(text);
      if (!event || !matches(event)) continue;
      hits.push({ event, offset });
      if (hits.length >= limit) break;
    }
    return hits;
  }

  /** A rotated file's matches before the cursor's offset, newest first (a pruned file has none). */
  async #listSegment(query: AuditQuery, limit: number, where: Cursor) {
    const hits: Array<{ event: AuditEvent; offset: number }> = [];
    const segment = this.#segments.find((candidate) => candidate.seq === where.s);
    if (!segment) return hits;
    const matches = matcher(query);
    const log = await this.#openSegment(segment);
    try {
      for await (const { text, offset } of log.readBackwardsAt(where.o ?? undefined)) {
        const event = parseAuditLine(text);
        if (!event || !matches(event)) continue;
        hits.push({ event, offset });
        if (hits.length >= limit) break;
      }
    } finally {
      await log.close();
    }
    return hits;
  }

  async #rotate(): Promise<void> {
    const seq = (this.#segments.at(-1)?.seq ?? 0) + 1;
    const path = join(this.#dir, `${this.#base}-${String(seq).padStart(8, '0')}.jsonl`);
    const firstAt = await this.#edgeAt(this.#log.readForward());
    const lastAt = await this.#edgeAt(this.#log.readBackwards());
    await this.#log.rotate(path);
    this.#segments.push({ seq, path, firstAt, lastAt });
    await this.#prune();
  }

  /** Deletes the rotated files past the retention time or count, oldest first. */
  async #prune(): Promise<void> {
    const cutoff = new Date(this.#now() - this.#retentionDays * DAY_MS).toISOString();
    let removed = false;
    while (this.#segments.length > 0) {
      const oldest = this.#segments[0] as Segment;
      const tooOld = oldest.lastAt === null || oldest.lastAt < cutoff;
      const tooMany = this.#retentionFiles !== null && this.#segments.length > this.#retentionFiles;
      if (!tooOld && !tooMany) break;
      await this.#fs.unlink(oldest.path).catch(() => {});
      this.#segments.shift();
      removed = true;
    }
    if (removed) await syncDirectory(this.#fs, this.#dir);
  }

  async #listSegments(): Promise<Segment[]> {
    const pattern = new RegExp(`^${this.#base}-(\\d{8})\\.jsonl$`);
    const segments: Segment[] = [];
    for (const name of (await this.#fs.readdir(this.#dir)).sort()) {
      const match = pattern.exec(name);
      if (!match) continue;
      const segment: Segment = {
        seq: Number(match[1]),
        path: join(this.#dir, name),
        firstAt: null,
        lastAt: null,
      };
      const log = await this.#openSegment(segment);
      try {
        segment.firstAt = await this.#edgeAt(log.readForward());
        segment.lastAt = await this.#edgeAt(log.readBackwards());
      } finally {
        await log.close();
      }
      segments.push(segment);
    }
    return segments;
  }

  /** The time of the first event a reader yields (its first few lines, past any damaged one). */
  async #edgeAt(lines: AsyncGenerator<string>): Promise<string | null> {
    let tried = 0;
    for await (const line of lines) {
      const event = parseAuditLine(line);
      if (event || ++tried >= 16) {
        await lines.return(undefined);
        return event?.at ?? null;
      }
    }
    return null;
  }

  async #openSegment(segment: Segment): Promise<AppendLog> {
    const log = new AppendLog(segment.path, { fs: this.#fs });
    await log.open();
    return log;
  }
}

function matcher(query: AuditQuery) {
  return (event: AuditEvent) =>
    (query.type === undefined || event.type === query.type) &&
    (query.userId === undefined || event.actor?.id === query.userId || event.subject?.id === query.userId);
}

/** One event, checked against its checksum (a line of the previous version has none); null if damaged. */
export function parseAuditLine(line: string): AuditEvent | null {
  try {
    const result = AuditEventSchema.safeParse(JSON.parse(unseal(line).json));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}
