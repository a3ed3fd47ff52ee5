/**
 * The PostgreSQL side of the benchmark: one throwaway cluster for the run (durable settings: fsync
 * on, as a server would run), and databases filled with the same records as ./build-store.ts, in
 * bulk (PostgresStore.createUsers), so filling 100,000 users is setup, not what is measured.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../server/store/postgres';
import { type PgCluster, startCluster } from '../test/support/pg-cluster';
import {
  BENCH_POLICY,
  BENCH_STORAGE_KEYS,
  type BuildOptions,
  type BuiltUser,
  benchRecords,
} from './build-store';

export { BENCH_STORAGE_KEY, BENCH_STORAGE_KEYS } from './build-store';

/** Users per bulk insert. */
const BATCH = 2000;

export function startBenchCluster(): Promise<PgCluster> {
  return startCluster({ fsync: true });
}

/** A new database on `cluster` holding `options.users` users; resolves with its URL and the users. */
export async function buildPostgres(
  cluster: PgCluster,
  options: BuildOptions,
): Promise<{ url: string; users: BuiltUser[] }> {
  const name = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client(cluster.url());
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = cluster.url(name);
  const store = new PostgresStore({
    url,
    poolSize: 2,
    storageKeys: BENCH_STORAGE_KEYS,
  });
  await store.open();
  try {
    await store.setPolicy(BENCH_POLICY);
    const { users, records } = benchRecords(options);
    for (let i = 0; i < records.length; i += BATCH) await store.createUsers(records.slice(i, i + BATCH));
    // Fresh statistics, as autovacuum would have them on a database that has been running.
    await store.db.query('ANALYZE');
    return { url, users };
  } finally {
    await store.close();
  }
}
