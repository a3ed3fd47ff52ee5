/**
 * Row 7: opening a store whose audit logs hold `events` events (10 million by default). A synthetic
 * log: sealed event lines written straight into rotated files of the server's default size, plus a
 * part-full active file, as years of use would leave them. Opening reads only the active file and
 * the edges of the rotated ones, so its time should not grow with the history.
 */
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LowdbStore } from '../server/store/lowdb';
import { seal } from '../server/store/records';
import { type Summary, summarize } from './stats';

const ROTATE_BYTES = 32 * 1024 * 1024;

function line(i: number, at: number): string {
  return seal(
    JSON.stringify({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      at: new Date(at).toISOString(),
      type: i % 7 === 0 ? 'backup_code_used' : 'login_succeeded',
      actor: null,
      subject: { id: `user-${i % 5000}`, username: `user${i % 5000}` },
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) bench',
    }),
  );
}

/** Writes `events` lines into rotated files and an active file half its size; returns the bytes written. */
async function writeLog(dir: string, events: number): Promise<number> {
  const start = Date.now() - 300 * 24 * 60 * 60_000;
  const step = (300 * 24 * 60 * 60_000) / events;
  let written = 0;
  let seq = 0;
  let i = 0;
  while (i < events) {
    seq++;
    const remaining = events - i;
    // Roughly how many lines fill a file: the last file stays half full, as the active one.
    const sample = Buffer.byteLength(line(i, start)) + 1;
    const perFile = Math.floor(ROTATE_BYTES / sample);
    const active = remaining <= perFile;
    const count = active ? Math.min(remaining, Math.floor(perFile / 2)) : perFile;
    const path = join(dir, active ? 'audit.jsonl' : `audit-${String(seq).padStart(8, '0')}.jsonl`);
    const handle = await open(path, 'w');
    const batch: string[] = [];
    for (let n = 0; n < count; n++, i++) {
      batch.push(line(i, start + i * step));
      if (batch.length === 10_000) {
        written += (await handle.write(`${batch.join('\n')}\n`)).bytesWritten;
        batch.length = 0;
      }
    }
    if (batch.length > 0) written += (await handle.write(`${batch.join('\n')}\n`)).bytesWritten;
    await handle.close();
    if (active) break;
  }
  return written;
}

export interface AuditOpenResult {
  events: number;
  bytes: number;
  rotatedFiles: number;
  open: Summary;
}

export async function measureAuditOpen(events: number, samples: number): Promise<AuditOpenResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sparekey-bench-audit-'));
  try {
    const bytes = await writeLog(dir, events);
    const times: number[] = [];
    for (let n = 0; n < samples; n++) {
      const store = new LowdbStore(dir, { audit: { rotateBytes: ROTATE_BYTES } });
      const started = performance.now();
      await store.open();
      times.push(performance.now() - started);
      await store.close();
    }
    const rotatedFiles = (await readdir(dir)).filter((name) => /^audit-\d{8}\.jsonl$/.test(name)).length;
    return { events, bytes, rotatedFiles, open: summarize(times) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
