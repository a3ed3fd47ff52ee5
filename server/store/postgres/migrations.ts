/**
 * Schema migrations: the numbered files in ./migrations (NNN_name.sql), applied in order at start
 * in one transaction (all the missing ones or none), recorded in sparekey_migrations with a
 * checksum of the file.
 *
 * A few lines of our own rather than a migration library: what we need is "apply the missing files
 * under one lock, refuse a database newer than the code", which node-pg-migrate would bring with its
 * CLI, config loader and three dependencies.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runtimeFile } from '../../runtime-files';
import type { Db } from './db';

const MIGRATIONS_DIR = runtimeFile('store/postgres/migrations');
/** pg_advisory_lock key (per database): "SPKY". Two instances starting together migrate one after the other. */
const MIGRATION_LOCK = 0x53504b59;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** The database's schema is newer than this build: starting would read or write it wrongly. */
export class SchemaTooNewError extends Error {
  constructor(databaseVersion: number, codeVersion: number, unknown: string) {
    super(
      `The database schema is at version ${databaseVersion} (${unknown}), newer than this build knows ` +
        `(${codeVersion}). Another instance runs newer code: upgrade this one instead of starting it.`,
    );
    this.name = 'SchemaTooNewError';
  }
}

export class MigrationChangedError extends Error {
  constructor(name: string) {
    super(`Migration ${name} was changed after it was applied; add a new migration instead.`);
    this.name = 'MigrationChangedError';
  }
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(join(dir, file), 'utf8');
      return {
        version: Number(file.slice(0, 3)),
        name: file.slice(0, -'.sql'.length),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

/** Applies the migrations the database lacks; resolves with the names applied now. */
export async function migrate(db: Db, migrations?: Migration[]): Promise<string[]> {
  const known = migrations ?? (await loadMigrations());
  const newestKnown = known.at(-1)?.version ?? 0;
  // The lock ends with the transaction; a migration may outlast the statement timeout meant for requests.
  return db.transaction(async (tx) => {
    await tx.query('SET LOCAL statement_timeout = 0');
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS sparekey_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const applied = await tx.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM sparekey_migrations ORDER BY version',
    );
    const byVersion = new Map(known.map((migration) => [migration.version, migration]));
    for (const row of applied) {
      const migration = byVersion.get(row.version);
      if (!migration)
        throw new SchemaTooNewError(applied.at(-1)?.version ?? row.version, newestKnown, row.name);
      if (migration.checksum !== row.checksum) throw new MigrationChangedError(row.name);
    }
    const done = new Set(applied.map((row) => row.version));
    const names: string[] = [];
    for (const migration of known) {
      if (done.has(migration.version)) continue;
      await tx.query(migration.sql);
      await tx.query('INSERT INTO sparekey_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      names.push(migration.name);
    }
    return names;
  });
}
