/** Audit rotation, retention, cursor pages through rotated files, date-range export, and a bounded open. */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, InvalidCursorError } from '../../server/store/lowdb/audit-log';
import { seal } from '../../server/store/records';
import type { AuditEvent } from '../../shared/api';
import { makeEvent, tempDir } from './store-fixtures';

const DAY = 24 * 60 * 60_000;
const START = Date.parse('2025-01-01T00:00:00Z');

function event(i: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  const user = { id: `user-${i % 3}`, username: `user${i % 3}` };
  return {
    id: `e${i}`,
    ...makeEvent({ at: new Date(START + i * DAY).toISOString(), subject: user }),
    ...overrides,
  };
}

async function openLog(dir: string, options: ConstructorParameters<typeof AuditLog>[1] = {}) {
  const log = new AuditLog(join(dir, 'audit.jsonl'), {
    rotateBytes: 2000,
    now: () => START + 100 * DAY,
    ...options,
  });
  await log.open();
  return log;
}

async function fill(log: AuditLog, count: number): Promise<AuditEvent[]> {
  const events = Array.from({ length: count }, (_, i) => event(i));
  for (const e of events) await log.append(e);
  return events;
}

async function allPages(log: AuditLog, query: Parameters<AuditLog['page']>[0]) {
  const seen: AuditEvent[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await log.page(query, cursor);
    expect(page.events.length).toBeLessThanOrEqual(query.limit);
    seen.push(...page.events);
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor);
  return { seen, pages };
}

describe('audit retention', () => {
  it('rotates by size; listing and cursor pages reach back through every rotated file, once each', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    const events = await fill(log, 60);
    await log.close();
    const again = await openLog(dir);
    expect(again.rotatedFiles.length).toBeGreaterThan(3);
    const newestFirst = [...events].reverse();
    expect(await again.list({ limit: 1000 })).toEqual(newestFirst);
    const { seen, pages } = await allPages(again, { limit: 7 });
    expect(seen).toEqual(newestFirst);
    expect(pages).toBeGreaterThan(again.rotatedFiles.length);
    const forUser = await allPages(again, { limit: 4, userId: 'user-1' });
    expect(forUser.seen).toEqual(newestFirst.filter((e) => e.subject?.id === 'user-1'));
    await expect(again.page({ limit: 5 }, 'not-a-cursor')).rejects.toBeInstanceOf(InvalidCursorError);
    await again.close();
  });

  it('exports a date range oldest first, from the files that cover it', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    const events = await fill(log, 60);
    const from = new Date(START + 10 * DAY).toISOString();
    const to = new Date(START + 45 * DAY).toISOString();
    const exported: AuditEvent[] = [];
    for await (const e of log.range(from, to)) exported.push(e);
    expect(exported).toEqual(events.slice(10, 45));
    await log.close();
  });

  it('deletes rotated files past the retention time, and beyond the retention count', async () => {
    const dir = await tempDir();
    const log = await openLog(dir, { now: () => START });
    await fill(log, 60);
    await log.close();
    const kept = (await openLog(dir, { now: () => START })).rotatedFiles.length;
    // 430 days after START the events of days 0..29 are older than 400 days.
    const later = await openLog(dir, { now: () => START + 430 * DAY });
    const remaining = await later.list({ limit: 1000 });
    expect(later.rotatedFiles.length).toBeLessThan(kept);
    expect((remaining.at(-1)?.at ?? '') >= new Date(START + 20 * DAY).toISOString()).toBe(true);
    expect(remaining[0]?.id).toBe('e59');
    await later.close();
    const capped = await openLog(dir, { retentionFiles: 1, now: () => START });
    expect(capped.rotatedFiles).toHaveLength(1);
    expect((await readdir(dir)).filter((name) => /^audit-\d{8}\.jsonl$/.test(name))).toHaveLength(1);
    await capped.close();
  });

  it('opens a large log of the previous version without reading it: it is rotated unread', async () => {
    const dir = await tempDir();
    const lines = Array.from({ length: 8000 }, (_, i) => `${seal(JSON.stringify(event(i)))}\n`).join('');
    await writeFile(join(dir, 'audit.jsonl'), lines);
    const log = await openLog(dir, { rotateBytes: 64 * 1024, now: () => START });
    // Only the edges were read, to learn the file's time span: not the file.
    expect(log.bytesRead).toBeLessThan(lines.length / 2);
    expect(log.rotatedFiles).toHaveLength(1);
    expect((await log.page({ limit: 3 })).events).toEqual([]);
    expect((await log.list({ limit: 3 })).map((e) => e.id)).toEqual(['e7999', 'e7998', 'e7997']);
    await log.close();
  });
});
