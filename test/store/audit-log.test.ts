import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditIndex } from '../../server/store/lowdb/audit-index';
import { AuditLog } from '../../server/store/lowdb/audit-log';
import type { AuditEvent, AuditEventType } from '../../shared/api';
import { tempDir } from './store-fixtures';

const USERS = ['u-alice', 'u-bob', 'u-carol'];
const TYPES: AuditEventType[] = ['login_succeeded', 'backup_code_used', 'logout'];
/** What a query can ask: the users and types above, one nobody has, and no filter at all. */
const QUERY_USERS = [undefined, ...USERS, 'u-nobody'];
const QUERY_TYPES: (AuditEventType | undefined)[] = [undefined, ...TYPES, 'mfa_reset'];
const QUERY_LIMITS = [1, 2, 3, 7, 1000];

/** Lines a damaged log may hold: none is an event, though some name a user and a type. */
const JUNK = [
  'not json',
  'null',
  '[1,2]',
  '"u-alice"',
  '{"id":"x","type":"no_such_type","actor":{"id":"u-alice","username":"alice"}}',
  '{"type":"logout","actor":{"id":"u-alice","username":"alice"},"subject":{"id":"u-bob","username":"bob"}}',
  '{"id":"y","at":"2026-11-27T10:00:00.000Z","type":"logout","actor":{"id":7},"subject":null,"ip":null,"userAgent":null}',
];

const ref = (id: string) => ({ id, username: id.slice(2) });

function event(n: number, type: AuditEventType, actor: string | null, subject: string | null): AuditEvent {
  return {
    id: `e${n}`,
    at: new Date(Date.UTC(2026, 10, 27, 10) + n * 1000).toISOString(),
    type,
    actor: actor === null ? null : ref(actor),
    subject: subject === null ? null : ref(subject),
    ip: '203.0.113.7',
    // Multi-byte characters: offsets are in bytes, not characters.
    userAgent: `Mozilla/5.0 (Ünïcødé ✓ 🔑) #${n}`,
  };
}

const anEvent = fc
  .record({
    type: fc.constantFrom(...TYPES),
    actor: fc.option(fc.constantFrom(...USERS), { nil: null }),
    subject: fc.option(fc.constantFrom(...USERS), { nil: null }),
  })
  .map(({ type, actor, subject }) => ({ kind: 'event' as const, type, actor, subject }));
const aJunkLine = fc.constantFrom(...JUNK).map((line) => ({ kind: 'junk' as const, line }));

/** What the old full scan answers: the valid events in file order, filtered, newest first. */
function reference(
  events: AuditEvent[],
  query: { limit: number; userId?: string; type?: AuditEventType },
): AuditEvent[] {
  return events
    .filter((e) => query.type === undefined || e.type === query.type)
    .filter(
      (e) => query.userId === undefined || e.actor?.id === query.userId || e.subject?.id === query.userId,
    )
    .reverse()
    .slice(0, query.limit);
}

async function expectSameAsScan(log: AuditLog, events: AuditEvent[]): Promise<void> {
  for (const userId of QUERY_USERS) {
    for (const type of QUERY_TYPES) {
      for (const limit of QUERY_LIMITS) {
        const query = { limit, ...(userId ? { userId } : {}), ...(type ? { type } : {}) };
        expect(await log.list(query), JSON.stringify(query)).toEqual(reference(events, query));
      }
    }
  }
}

async function openLog(path: string, indexDepth?: number): Promise<AuditLog> {
  const log = new AuditLog(path, { indexDepth });
  await log.open();
  return log;
}

describe('AuditLog', () => {
  it('answers every user, type and limit query exactly as a full scan would, across appends, damage and reopens', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.oneof({ weight: 4, arbitrary: anEvent }, { weight: 1, arbitrary: aJunkLine }), {
          maxLength: 30,
        }),
        fc.option(fc.constantFrom('{"id":"torn","type":"logout","actor":{"id":"u-alice"', '{'), {
          nil: null,
        }),
        fc.array(anEvent, { maxLength: 15 }),
        async (depth, onDisk, torn, appended) => {
          const path = join(await tempDir(), 'audit.jsonl');
          const events: AuditEvent[] = [];
          const lines = onDisk.map((item) => {
            if (item.kind === 'junk') return item.line;
            const e = event(events.length, item.type, item.actor, item.subject);
            events.push(e);
            return JSON.stringify(e);
          });
          await writeFile(path, lines.map((line) => `${line}\n`).join('') + (torn ?? ''));

          // An index too shallow for these users: the queries past it must still be right.
          const log = await openLog(path, depth);
          try {
            await expectSameAsScan(log, events);
            const added = appended.map((item, i) =>
              event(events.length + i, item.type, item.actor, item.subject),
            );
            // All at once: they share fsyncs, and each still lands at the offset the index was told.
            await Promise.all(added.map((e) => log.append(e)));
            events.push(...added);
            await expectSameAsScan(log, events);
          } finally {
            await log.close();
          }

          const again = await openLog(path, depth);
          try {
            await expectSameAsScan(again, events);
          } finally {
            await again.close();
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);

  it("reads only a user's own lines, not the whole log, when that user has 1 event among 20,000", async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    // Alice's one event is the oldest: a scan back from the end would read every byte to find it.
    const alices = event(0, 'backup_code_used', 'u-alice', 'u-alice');
    const lines = [JSON.stringify(alices)];
    for (let n = 1; n < 20_000; n++) {
      const user = `u-${n % 100}`;
      lines.push(JSON.stringify(event(n, n % 2 ? 'login_succeeded' : 'logout', user, user)));
    }
    await writeFile(path, lines.map((line) => `${line}\n`).join(''));
    const { size } = await stat(path);
    const log = await openLog(path);
    try {
      // Opening reads the file once to build the index (plus its tail, looking for a torn line).
      expect(log.bytesRead).toBeGreaterThanOrEqual(size);
      expect(log.bytesRead).toBeLessThan(size + 100_000);

      let before = log.bytesRead;
      expect(await log.list({ limit: 50, userId: 'u-alice' })).toEqual([alices]);
      const aliceLine = Buffer.byteLength(lines[0] as string);
      // The line and the newline after it (it is the first line: none before).
      expect(log.bytesRead - before).toBe(aliceLine + 1);
      expect(log.bytesRead - before).toBeLessThan(size / 1000);

      // A type that only her event has is found the same way.
      before = log.bytesRead;
      expect(await log.list({ limit: 50, type: 'backup_code_used' })).toEqual([alices]);
      expect(log.bytesRead - before).toBe(aliceLine + 1);

      // Someone with no event at all costs nothing.
      before = log.bytesRead;
      expect(await log.list({ limit: 50, userId: 'u-nobody' })).toEqual([]);
      expect(log.bytesRead - before).toBe(0);

      // A new event is indexed as it is appended: both are found, newest first, still without a scan.
      const next = event(20_000, 'logout', null, 'u-alice');
      await log.append(next);
      before = log.bytesRead;
      expect(await log.list({ limit: 50, userId: 'u-alice' })).toEqual([next, alices]);
      expect(log.bytesRead - before).toBeLessThan(2_000);
    } finally {
      await log.close();
    }
  });

  it("still finds a user's older events beyond the lines indexed per user, newest first", async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const log = await openLog(path, 3);
    try {
      const mine: AuditEvent[] = [];
      for (let n = 0; n < 10; n++) {
        const e = event(n, n === 0 ? 'backup_code_used' : 'login_succeeded', 'u-alice', null);
        mine.push(e);
        await log.append(e);
        await log.append(event(100 + n, 'logout', 'u-bob', 'u-bob'));
      }
      expect(await log.list({ limit: 5, userId: 'u-alice' })).toEqual(mine.slice(5).reverse());
      expect(await log.list({ limit: 50, userId: 'u-alice' })).toEqual([...mine].reverse());
      // Her one event of this type is older than every line the index kept for her.
      expect(await log.list({ limit: 50, userId: 'u-alice', type: 'backup_code_used' })).toEqual([mine[0]]);
    } finally {
      await log.close();
    }
  });

  it('cuts a torn last line at open and then indexes the next event at the right place', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const first = event(0, 'login_succeeded', 'u-alice', 'u-alice');
    await writeFile(
      path,
      `${JSON.stringify(first)}\n{"id":"torn","type":"logout","actor":{"id":"u-alice","userna`,
    );
    const log = await openLog(path);
    try {
      expect(await log.list({ limit: 10, userId: 'u-alice' })).toEqual([first]);
      const second = event(1, 'logout', 'u-alice', null);
      await log.append(second);
      expect(await log.list({ limit: 10, userId: 'u-alice' })).toEqual([second, first]);
      expect(await log.list({ limit: 10, type: 'logout' })).toEqual([second]);
    } finally {
      await log.close();
    }
  });
});

describe('line separators in what a client sends', () => {
  it('escapes U+0085, U+2028 and U+2029 from a User-Agent: one line per event for any reader, read back intact', async () => {
    const path = join(await tempDir(), 'audit.jsonl');
    const log = await openLog(path);
    const events = ['\u0085', '\u2028', '\u2029'].map((separator, n) => ({
      ...event(n, 'login_succeeded', 'u-alice', 'u-alice'),
      userAgent: `Evil${separator}{"id":"forged","type":"logout"}${separator}Agent`,
    }));
    try {
      for (const e of events) await log.append(e);
      const text = await readFile(path, 'utf8');
      expect(text).not.toMatch(/[\u0085\u2028\u2029]/);
      // A reader that splits on every Unicode line break still sees one line per event.
      expect(text.split(/\r\n|[\n\v\f\r\u0085\u2028\u2029]/).filter(Boolean)).toHaveLength(3);
      expect(await log.list({ limit: 10, userId: 'u-alice' })).toEqual([...events].reverse());
    } finally {
      await log.close();
    }
    const reopened = await openLog(path);
    try {
      expect(await reopened.list({ limit: 10 })).toEqual([...events].reverse());
    } finally {
      await reopened.close();
    }
  });
});

describe('AuditIndex', () => {
  it('keeps at most `depth` lines per user, the newest, and says where the older ones start', () => {
    const index = new AuditIndex(4);
    for (let n = 0; n < 1000; n++) {
      index.add(JSON.stringify(event(n, 'logout', 'u-alice', null)), { offset: n * 100, length: 99 });
    }
    const found = index.lookup({ userId: 'u-alice' });
    expect(found?.spans.map((span) => span.offset)).toEqual([99_900, 99_800, 99_700, 99_600]);
    expect(found?.olderThan).toBe(99_600);
    expect(index.lookup({ type: 'logout' })?.spans).toHaveLength(4);
    // No user and no type: nothing to look up, the caller scans.
    expect(index.lookup({})).toBeNull();
  });

  it('says the list is complete while nothing was dropped, and forgets everything when cleared', () => {
    const index = new AuditIndex(4);
    index.add(JSON.stringify(event(0, 'logout', 'u-alice', 'u-bob')), { offset: 0, length: 10 });
    expect(index.lookup({ userId: 'u-alice' })).toEqual({
      spans: [{ offset: 0, length: 10 }],
      olderThan: null,
    });
    expect(index.lookup({ userId: 'u-bob' })).toEqual({
      spans: [{ offset: 0, length: 10 }],
      olderThan: null,
    });
    index.clear();
    expect(index.lookup({ userId: 'u-alice' })).toEqual({ spans: [], olderThan: null });
  });

  it('refuses a depth that is not a positive whole number', () => {
    expect(() => new AuditIndex(0)).toThrow(/positive integer/);
    expect(() => new AuditIndex(2.5)).toThrow(/positive integer/);
  });
});
