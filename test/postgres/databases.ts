/** Databases and schemas of their own for each test file and test, in the cluster of ./global-setup.ts. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** The cluster's superuser URL; throws the reason (with the install command) when there is none. */
export function clusterUrl(): string {
  const url = inject('pgAdminUrl');
  if (!url) throw new Error(inject('pgProblem') ?? 'The PostgreSQL test cluster did not start.');
  return url;
}

async function admin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const uniqueName = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

/** CREATE DATABASE with a fresh name; resolves with its URL. */
export async function createDatabase(prefix = 'sparekey'): Promise<string> {
  const base = clusterUrl();
  const name = uniqueName(prefix);
  await admin(base, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A new empty schema in `databaseUrl`; the URL returned puts it first on the search path. */
export async function createSchema(databaseUrl: string, prefix = 't'): Promise<string> {
  const name = uniqueName(prefix);
  await admin(databaseUrl, (client) => client.query(`CREATE SCHEMA ${name}`));
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${name}`);
  return url.toString();
}
