/**
 * The compiled server (dist/server/main.js, what production runs) on PostgreSQL: it finds the SQL
 * migrations copied beside its bundle, applies every one to an empty database, and serves.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { expect, it } from 'vitest';
import { call, startServer } from '../support/server';
import { createDatabase } from './databases';
import { postgresEnv } from './servers';

const ROOT = resolve(import.meta.dirname, '../..');

it('node dist/server/main.js migrates an empty database and answers /healthz/ready', async () => {
  const build = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-server.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(build.status, build.stderr).toBe(0);
  const url = await createDatabase('compiled');
  const server = await startServer({
    env: postgresEnv(url),
    command: [process.execPath, 'dist/server/main.js'],
  });
  try {
    expect((await call(server.url, 'GET', '/healthz/ready')).status).toBe(200);
  } finally {
    await server.stop();
  }
  const client = new pg.Client(url);
  await client.connect();
  const applied = await client.query<{ name: string }>(
    'SELECT name FROM sparekey_migrations ORDER BY version',
  );
  await client.end();
  const files = readdirSync(resolve(ROOT, 'server/store/postgres/migrations'))
    .filter((file) => file.endsWith('.sql'))
    .sort();
  expect(applied.rows.map((row) => `${row.name}.sql`)).toEqual(files);
});
