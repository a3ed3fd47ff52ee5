/**
 * Where in the audit log each user's and each event type's newest events sit, so that a user's
 * events are read by position instead of by scanning a log that may hold millions of lines.
 * Memory is bounded: at most `depth` lines per user and per type are remembered.
 */
import { type AuditEvent, AuditEventType } from '../../../shared/api';
import type { LineSpan } from './append-log';

const TYPES: readonly AuditEventType[] = AuditEventType.options;
const TYPE_CODES = new Map<string, number>(TYPES.map((type, code) => [type, code]));
/** Numbers kept per line in a ring: offset, length, type code. */
const STRIDE = 3;

/** What the index knows for one query. */
export interface IndexedLines {
  /** The lines that may match, newest first. */
  spans: LineSpan[];
  /**
   * Every line before this offset that matches is missing from `spans` (the ring was full and let
   * them go), so a caller wanting more must scan the log backwards from here; null when the index
   * holds every line that matches.
   */
  olderThan: number | null;
}

/** The newest `capacity` lines of one key, oldest overwritten first. */
class Ring {
  /** Flat: STRIDE numbers per line, in one array to keep the per-line cost small. */
  readonly #slots: number[] = [];
  /** Once full, the slot of the oldest line, overwritten next. */
  #next = 0;
  #dropped = false;

  constructor(readonly capacity: number) {}

  add(span: LineSpan, typeCode: number): void {
    if (this.#slots.length < this.capacity * STRIDE) {
      this.#slots.push(span.offset, span.length, typeCode);
      return;
    }
    const at = this.#next * STRIDE;
    this.#slots[at] = span.offset;
    this.#slots[at + 1] = span.length;
    this.#slots[at + 2] = typeCode;
    this.#next = (this.#next + 1) % this.capacity;
    this.#dropped = true;
  }

  lookup(typeCode: number | null): IndexedLines {
    const count = this.#slots.length / STRIDE;
    const spans: LineSpan[] = [];
    for (let i = 1; i <= count; i++) {
      const at = ((this.#next - i + count) % count) * STRIDE;
      if (typeCode !== null && this.#slots[at + 2] !== typeCode) continue;
      spans.push({ offset: this.#slots[at] as number, length: this.#slots[at + 1] as number });
    }
    // The oldest line still held is where completeness stops.
    const olderThan = this.#dropped ? (this.#slots[this.#next * STRIDE] as number) : null;
    return { spans, olderThan };
  }
}

export class AuditIndex {
  readonly #users = new Map<string, Ring>();
  readonly #types = new Map<number, Ring>();

  /** `depth`: lines kept per user and per type; 500 covers the largest page the API serves. */
  constructor(readonly depth = 500) {
    if (!(Number.isInteger(depth) && depth > 0))
      throw new Error('The audit index depth must be a positive integer.');
  }

  /**
   * Files one log line under its actor, its subject and its type. A line that is not JSON or has no
   * known type is left out: no listing can return it. Other damage is left for the reader's full
   * parse to refuse, so the index only ever holds more lines than match, never fewer.
   */
  /** Indexes the line at `span`; `event`, when the caller still holds what the line says, saves parsing it. */
  add(line: string, span: LineSpan, event?: AuditEvent): void {
    let raw: unknown = event;
    if (raw === undefined) {
      try {
        raw = JSON.parse(line);
      } catch {
        return;
      }
    }
    if (typeof raw !== 'object' || raw === null) return;
    const { type, actor, subject } = raw as Record<string, unknown>;
    const typeCode = typeof type === 'string' ? TYPE_CODES.get(type) : undefined;
    if (typeCode === undefined) return;
    this.#ring(this.#types, typeCode).add(span, typeCode);
    const actorId = idOf(actor);
    const subjectId = idOf(subject);
    if (actorId !== undefined) this.#ring(this.#users, actorId).add(span, typeCode);
    if (subjectId !== undefined && subjectId !== actorId)
      this.#ring(this.#users, subjectId).add(span, typeCode);
  }

  /** Forgets everything: the log was emptied or is about to be scanned again. */
  clear(): void {
    this.#users.clear();
    this.#types.clear();
  }

  /** The lines that may match a user and/or a type filter; null when the query has neither. */
  lookup(query: { userId?: string; type?: AuditEventType }): IndexedLines | null {
    const typeCode = query.type === undefined ? null : (TYPE_CODES.get(query.type) ?? -1);
    if (query.userId !== undefined) {
      return this.#users.get(query.userId)?.lookup(typeCode) ?? { spans: [], olderThan: null };
    }
    if (typeCode !== null) return this.#types.get(typeCode)?.lookup(null) ?? { spans: [], olderThan: null };
    return null;
  }

  #ring<K>(rings: Map<K, Ring>, key: K): Ring {
    let ring = rings.get(key);
    if (!ring) {
      ring = new Ring(this.depth);
      rings.set(key, ring);
    }
    return ring;
  }
}

function idOf(ref: unknown): string | undefined {
  if (typeof ref !== 'object' || ref === null) return undefined;
  const { id } = ref as Record<string, unknown>;
  return typeof id === 'string' ? id : undefined;
}
