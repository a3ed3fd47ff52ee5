/**
 * Starting the real server on PostgreSQL when it cannot run: the database unreachable, or its schema
 * newer than this build. Either way the process exits 1 with one line that says why, no stack trace.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startServer } from '../support/server';
import { createDatabase } from './databases';
import { postgresEnv } from './servers';

async function startFailure(env: Record<string, string>): Promise<string> {
  const error = await startServer({ env }).then(
    async (server) => {
      await server.stop();
      throw new Error('the server started');
    },
    (thrown: unknown) => thrown,
  );
  return String(error);
}

describe('starting on PostgreSQL', () => {
  it('exits with a message naming the host when the database is unreachable', async () => {
    const output = await startFailure(postgresEnv('postgres://sparekey:hunter2@127.0.0.1:1/sparekey'));
    expect(output).toMatch(/exited with 1 before listening/);
    expect(output).toMatch(/Cannot reach the database at 127\.0\.0\.1:1\/sparekey \(ECONNREFUSED/);
    expect(output).not.toContain('hunter2');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('refuses to start when the database schema is newer than its code', async () => {
    const url = await createDatabase('startup');
    const server = await startServer({ env: postgresEnv(url) });
    await server.stop();
    const client = new pg.Client(url);
    await client.connect();
    await client.query(
      "INSERT INTO sparekey_migrations (version, name, checksum) VALUES (999, '999_from_the_future', 'x')",
    );
    await client.end();
    const output = await startFailure(postgresEnv(url));
    expect(output).toMatch(/exited with 1 before listening/);
    expect(output).toMatch(/schema is at version 999 \(999_from_the_future\), newer than this build/);
    expect(output).not.toMatch(/\n\s+at /);
  });
});
