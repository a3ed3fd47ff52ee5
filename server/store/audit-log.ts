/**
 * The audit log: events appended one JSON line each (./append-log.ts), listed newest first. A query
 * for a user or a type reads only the lines the in-memory index (./audit-index.ts) points to, so a
 * user polling their events costs the same whatever the size of the log; a query for neither reads
 * backwards from the end and stops at its limit.
 */
import type { AuditEvent } from '../../shared/api';
import { AppendLog, type LineSpan } from './append-log';
import { AuditIndex } from './audit-index';
import type { StoreFs } from './fs';
import { AuditEventSchema, seal, unseal } from './records';
import type { AuditQuery } from './types';

/** Indexed lines read at once: enough to fill a page in one round, few enough to bound buffers. */
const READ_BATCH = 64;

export interface AuditLogOptions {
  /** Lines remembered per user and per event type (default 500, the API's largest page). */
  indexDepth?: number;
  fs?: StoreFs;
}

export class AuditLog {
  readonly #index: AuditIndex;
  readonly #log: AppendLog;

  constructor(path: string, options: AuditLogOptions = {}) {
    this.#index = new AuditIndex(options.indexDepth);
    this.#log = new AppendLog(path, {
      onAppend: (line, span) => this.#index.add(line, span),
      onEmptied: () => this.#index.clear(),
      isWholeLine: (text) => parseAuditLine(text) !== null,
      fs: options.fs,
    });
  }

  /** Bytes read from the file so far, the index's one pass at open included. */
  get bytesRead(): number {
    return this.#log.bytesRead;
  }

  /** Opens the file (cutting a line torn by a crash) and builds the index in one pass over it. */
  async open(): Promise<void> {
    await this.#log.open();
    this.#index.clear();
    try {
      await this.#log.scan((line, span) => this.#index.add(line, span));
    } catch (error) {
      await this.#log.close();
      throw error;
    }
  }

  /** Resolves once the event is on disk. */
  async append(event: AuditEvent): Promise<void> {
    await this.#log.append(seal(JSON.stringify(event)));
  }

  /**
   * Newest first, at most `limit` events. `userId` matches events where the user is the actor or
   * the subject. Lines that do not parse are skipped.
   */
  async list(query: AuditQuery): Promise<AuditEvent[]> {
    const limit = Math.floor(query.limit);
    const events: AuditEvent[] = [];
    if (!(limit > 0)) return events;
    const matches = (event: AuditEvent) =>
      (query.type === undefined || event.type === query.type) &&
      (query.userId === undefined || event.actor?.id === query.userId || event.subject?.id === query.userId);

    const indexed = this.#index.lookup(query);
    if (indexed) {
      // The index may hold lines the full parse refuses, so each one is checked as a scanned one would be.
      for (let next = 0; next < indexed.spans.length && events.length < limit; ) {
        const batch: LineSpan[] = indexed.spans.slice(
          next,
          next + Math.min(READ_BATCH, limit - events.length),
        );
        next += batch.length;
        for (const line of await this.#log.readSpans(batch)) {
          const event = parseAuditLine(line);
          if (event && matches(event)) events.push(event);
          if (events.length >= limit) break;
        }
      }
      if (events.length >= limit || indexed.olderThan === null) return events;
    }
    // Without an index, or past what it kept: the lines before where it stops, newest first.
    for await (const line of this.#log.readBackwards(indexed?.olderThan ?? undefined)) {
      const event = parseAuditLine(line);
      if (!event || !matches(event)) continue;
      events.push(event);
      if (events.length >= limit) break;
    }
    return events;
  }

  /** Every event oldest first, as the log stood when called; damaged lines are counted, not returned. */
  async *events(damaged: { lines: number }): AsyncGenerator<AuditEvent> {
    for await (const line of this.#log.readForward()) {
      const event = parseAuditLine(line);
      if (event) yield event;
      else damaged.lines++;
    }
  }

  /** Waits for the appends already made, then closes the file. */
  close(): Promise<void> {
    return this.#log.close();
  }
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
