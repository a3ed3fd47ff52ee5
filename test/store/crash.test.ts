/**
 * Kills a process writing to the store with SIGKILL at random moments, then reopens the data
 * directory and checks that every acknowledged write is there and nothing is half-written.
 * (SIGKILL loses what the process had not written; the fsyncs are what a power cut would need.)
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { LowdbStore } from '../../server/store/lowdb';
import { tempDir } from './store-fixtures';

const WRITER = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
const CYCLES = 6;

/** Runs the writer until it has written for `ms` after start-up, kills it, and returns its acknowledged lines. */
function runAndKill(dataDir: string, cycle: number, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dataDir, String(cycle)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!killTimer && stdout.startsWith('ready\n')) {
        killTimer = setTimeout(() => child.kill('SIGKILL'), ms);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(killTimer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`The writer stopped by itself (signal ${signal}):\n${stderr}`));
        return;
      }
      // Only whole lines were acknowledged: the last one may have been cut by the kill.
      const lines = stdout.split('\n');
      lines.pop();
      resolve(lines);
    });
  });
}

it(`keeps every acknowledged write across ${CYCLES} SIGKILLs at random moments`, async () => {
  const dataDir = await tempDir();
  const counters = new Map<number, number>();
  const liveUsers = new Map<string, string>();
  const auditIds = new Set<string>();
  let writesChecked = 0;

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const lines = await runAndKill(dataDir, cycle, 150 + Math.floor(Math.random() * 500));
    const taken = new Set<string>();
    const uncertain = new Set<string>();
    for (const line of lines) {
      const [kind, a, b] = line.split(' ');
      if (kind === 'counter') counters.set(Number(a), Number(b));
      if (kind === 'created' && a && b) {
        liveUsers.set(a, b);
        // Every third user is deleted right away: until that is acknowledged, either outcome is fine.
        if (Number(b.split('u').pop()) % 3 === 2) uncertain.add(a);
      }
      if (kind === 'deleted' && a) {
        liveUsers.delete(a);
        uncertain.delete(a);
      }
      if (kind === 'audit' && a) auditIds.add(a);
      if (kind === 'taken' && a) taken.add(a);
    }
    writesChecked += lines.length;

    const store = new LowdbStore(dataDir);
    await store.open();
    try {
      for (const [n, acknowledged] of counters) {
        const value = (await store.getUser(`counter-${n}`))?.mfa.lastStep ?? -1;
        // The one update in flight at the kill may or may not have landed; nothing older may be lost.
        expect(value).toBeGreaterThanOrEqual(acknowledged);
        expect(value).toBeLessThanOrEqual(acknowledged + 1);
        counters.set(n, value);
      }
      for (const [id, username] of liveUsers) {
        const user = await store.getUser(id);
        if (uncertain.has(id)) {
          if (!user) liveUsers.delete(id);
          continue;
        }
        expect(user?.username).toBe(username);
        expect((await store.findUserByUsername(username))?.id).toBe(id);
      }
      const listed = new Set((await store.listAudit({ limit: 1_000_000 })).map((event) => event.id));
      for (const id of auditIds) expect(listed.has(id)).toBe(true);
      for (const hash of taken) expect(await store.getToken(hash)).toBeNull();
      // Temp files of the top directory are removed at open; those of users/ are only ignored
      // (the sweep removes them later), so every indexed user must still read whole.
      expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect((await store.listUsers()).length).toBe(await store.countUsers());
    } finally {
      await store.close();
    }
  }
  // The writer must actually have been writing when it was killed, or this test proves nothing.
  expect(writesChecked).toBeGreaterThan(CYCLES * 20);
  expect(Math.min(...counters.values())).toBeGreaterThan(0);
}, 120_000);
