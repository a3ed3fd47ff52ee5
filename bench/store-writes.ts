/**
 * Item 4: the time to acknowledge one spend in the real stores (store.updateUser marking a code
 * used, durable write or commit included, argon2id excluded) with 100, 10,000 and 100,000 users:
 * LowdbStore and, on the same machine in the same run, PostgresStore (row lock, read, one code row
 * updated, commit with fsync). Each spend is for a user picked at random, so most are not in
 * lowdb's cache and their file is read too: the slow path of a real sign-in.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LowdbStore } from '../server/store/lowdb';
import { writeFileDurably } from '../server/store/lowdb/durable-json-file';
import { PostgresStore } from '../server/store/postgres';
import type { Store } from '../server/store/types';
import type { PgCluster } from '../test/support/pg-cluster';
import { BENCH_STORAGE_KEYS, buildPostgres } from './build-postgres';
import { buildStore } from './build-store';
import { round, type Summary, summarize, timed } from './stats';

export interface StoreSizeResult {
  users: number;
  /** Time to build the directory (setup, not measured as a goal). */
  buildS: number;
  /** Time for the store to open the directory (it reads the user index). */
  openMs: number;
  spend: Summary;
  postgres: { buildS: number; spend: Summary };
}

export interface StoreWritesResult {
  sizes: StoreSizeResult[];
  /**
   * The floor under every spend: one durable write of a user-sized file with no store around it
   * (temp file, fsync, rename, fsync of the directory), on the same disk, interleaved with the spends.
   */
  rawDurableWrite: Summary;
}

export async function measureStoreWrites(
  sizes: number[],
  spendsPerSize: number,
  cluster: PgCluster,
): Promise<StoreWritesResult> {
  const stores: {
    size: number;
    store: LowdbStore;
    dataDir: string;
    ids: string[];
    buildS: number;
    openMs: number;
    pg: PostgresStore;
    pgIds: string[];
    pgBuildS: number;
  }[] = [];
  try {
    for (const size of sizes) {
      const started = performance.now();
      const { dataDir, users } = await buildStore({ users: size });
      const buildS = round((performance.now() - started) / 1000, 1);
      const store = new LowdbStore(dataDir, { storageKeys: BENCH_STORAGE_KEYS });
      const openMs = round(await timed(() => store.open()), 1);
      if ((await store.countUsers()) !== size)
        throw new Error(`the store holds ${await store.countUsers()} users`);
      const pgStarted = performance.now();
      const built = await buildPostgres(cluster, { users: size });
      const pgBuildS = round((performance.now() - pgStarted) / 1000, 1);
      const pg = new PostgresStore({ url: built.url, storageKeys: BENCH_STORAGE_KEYS });
      await pg.open();
      stores.push({
        size,
        store,
        dataDir,
        ids: users.map((u) => u.id),
        buildS,
        openMs,
        pg,
        pgIds: built.users.map((u) => u.id),
        pgBuildS,
      });
    }

    const spend = (store: Store, id: string) =>
      store.updateUser(id, (user) => {
        const set = user.backupCodes;
        const index = set?.codes.findIndex((c) => c.digest !== null) ?? -1;
        if (!set || index === -1) return { user: null, result: false };
        const codes = set.codes.map((c, i) =>
          i === index ? { ...c, digest: null, usedAt: new Date().toISOString() } : c,
        );
        return { user: { ...user, backupCodes: { ...set, codes } }, result: true };
      });

    for (const { store, ids, pg, pgIds } of stores) {
      for (let i = 0; i < 5; i++) {
        await spend(store, ids[i] as string);
        await spend(pg, pgIds[i] as string);
      }
    }
    const samples = new Map<number, number[]>(stores.map((s) => [s.size, []]));
    const pgSamples = new Map<number, number[]>(stores.map((s) => [s.size, []]));
    const raw: number[] = [];
    const rawDir = await mkdtemp(join(tmpdir(), 'sparekey-bench-raw-'));
    const rawText = JSON.stringify({ padding: 'x'.repeat(1200) });
    // Interleaved, so a disk busy with someone else's writes hits every size alike.
    for (let i = 0; i < spendsPerSize; i++) {
      for (const { size, store, ids, pg, pgIds } of stores) {
        const spendOne = (on: Store, from: string[]) =>
          timed(async () => {
            const id = from[Math.floor(Math.random() * from.length)] as string;
            if (!(await spend(on, id))) throw new Error('no code left to spend');
          });
        samples.get(size)?.push(await spendOne(store, ids));
        pgSamples.get(size)?.push(await spendOne(pg, pgIds));
      }
      raw.push(await timed(() => writeFileDurably(join(rawDir, 'user.json'), rawText)));
    }
    await rm(rawDir, { recursive: true, force: true });
    return {
      sizes: stores.map(({ size, buildS, openMs, pgBuildS }) => ({
        users: size,
        buildS,
        openMs,
        spend: summarize(samples.get(size) ?? []),
        postgres: { buildS: pgBuildS, spend: summarize(pgSamples.get(size) ?? []) },
      })),
      rawDurableWrite: summarize(raw),
    };
  } finally {
    for (const { store, dataDir, pg } of stores) {
      await store.close();
      await pg.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }
}
