/**
 * Secrets at rest on PostgreSQL (issue #20), through the real server: whoever reads the database
 * (a dump, a replica, a stolen disk) finds no TOTP secret, private signing key or cookie secret in
 * clear, nor an enrolment challenge's pending secret; a sealed value moved to another user's row or
 * another challenge does not open; a server given another key
 * refuses to start in one line and changes nothing; a database from before the key gets its clear
 * values sealed at the first start with one.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, type BenchUser, createTotpUser, signInWithTotp, startMfa } from '../../bench/accounts';
import { newStorageKey } from '../../server/crypto/sealing';
import { hashToken } from '../../server/crypto/tokens';
import { PostgresStore } from '../../server/store/postgres';
import { type Credentials, confirmEnrolment, enrolmentUsers, startEnrolment } from '../support/enrolment';
import { call, type RunningServer, runServerToExit, startServer } from '../support/server';
import { createDatabase } from './databases';
import { postgresEnv, TEST_STORAGE_KEYS } from './servers';

/** Every row of every table of ours, as text: what a dump of the database would hold. */
async function dumpRows(url: string): Promise<string> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    const texts: string[] = [];
    for (const { tablename } of tables) {
      const { rows } = await client.query<{ row: string }>(
        `SELECT row_to_json(t)::text AS row FROM "${tablename}" t ORDER BY 1`,
      );
      texts.push(`${tablename}: ${rows.map((r) => r.row).join('\n')}`);
    }
    return texts.join('\n');
  } finally {
    await client.end();
  }
}

async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The key set as the services see it, opened through a store holding the test key. */
async function clearKeys(url: string) {
  const store = new PostgresStore({ url, storageKeys: TEST_STORAGE_KEYS });
  await store.open();
  try {
    return await store.getOidcKeys();
  } finally {
    await store.close();
  }
}

describe('PostgreSQL: secrets sealed under the storage key', () => {
  let url: string;
  let server: RunningServer;
  let admin: string;
  let alice: BenchUser;
  let bob: BenchUser;

  beforeAll(async () => {
    url = await createDatabase('sealed');
    server = await startServer({ env: postgresEnv(url) });
    admin = await adminToken(server);
    alice = await createTotpUser(server, admin, 'alice');
    bob = await createTotpUser(server, admin, 'bob');
    // The provider builds (and stores) its key set at its first request.
    expect((await call(server.url, 'GET', '/oidc/jwks')).status).toBe(200);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('no TOTP secret, private key (d, p, q) or cookie secret appears in clear in any row', async () => {
    const keys = await clearKeys(url);
    const [signing] = keys?.signing ?? [];
    const dump = await dumpRows(url);
    const secrets = [
      alice.secret,
      bob.secret,
      ...['d', 'p', 'q', 'dp', 'dq', 'qi'].map((part) => String(signing?.jwk[part])),
      ...(keys?.cookieSecrets ?? []),
    ];
    expect(secrets.every((secret) => secret.length >= 16)).toBe(true);
    for (const secret of secrets) expect(dump).not.toContain(secret);
    // What is there instead: values sealed under the key the store records.
    const [check] = await sql(url, 'SELECT key_id, previous_key_id FROM storage_key');
    expect(check).toEqual({ key_id: TEST_STORAGE_KEYS.current.id, previous_key_id: null });
    const rows = await sql(url, "SELECT totp_secret FROM users WHERE username IN ('alice', 'bob')");
    for (const row of rows) expect(row.totp_secret).toMatch(new RegExp(`^sk1\\.${check?.key_id}\\.`));
    const [keyRow] = await sql(url, 'SELECT keys FROM oidc_keys');
    expect(Object.keys(keyRow?.keys)).toEqual(['sealed']);
  });

  it('the services still see the clear secret: a TOTP sign-in works', async () => {
    expect(await signInWithTotp(server, alice)).toEqual(expect.any(String));
  });

  it("a sealed secret moved into another user's row does not open: that account answers 503, others work", async () => {
    const carol = await createTotpUser(server, admin, 'carol');
    await sql(
      url,
      "UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE username = 'bob') WHERE username = 'carol'",
    );
    const refused = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: carol.username, password: carol.password },
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('account_damaged');
    // Bob's own secret, in his own row, still opens; so does everyone else's.
    expect(await startMfa(server, bob)).toEqual(expect.any(String));
    expect(await signInWithTotp(server, bob)).toEqual(expect.any(String));
    await sql(url, "DELETE FROM users WHERE username = 'carol'");
  });
});

describe("PostgreSQL: an enrolment challenge's pending secret", () => {
  let url: string;
  let server: RunningServer;
  let erin: Credentials;
  let fay: Credentials;
  let gus: Credentials;

  beforeAll(async () => {
    url = await createDatabase('pending');
    server = await startServer({ env: postgresEnv(url) });
    [erin, fay, gus] = (await enrolmentUsers(server, 'erin', 'fay', 'gus')) as [
      Credentials,
      Credentials,
      Credentials,
    ];
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('appears in no row while the enrolment waits, and the enrolment completes with it', async () => {
    const challenge = await startEnrolment(server, erin);
    expect(challenge.secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(await dumpRows(url)).not.toContain(challenge.secret);
    const [row] = await sql(url, 'SELECT pending_secret FROM tokens WHERE hash = $1', [
      hashToken(challenge.mfaToken),
    ]);
    expect(row?.pending_secret).toMatch(new RegExp(`^sk1\\.${TEST_STORAGE_KEYS.current.id}\\.`));

    const enrolled = await confirmEnrolment(server, challenge.mfaToken, challenge.secret);
    expect(enrolled.status).toBe(200);
    expect(enrolled.body.token).toEqual(expect.any(String));
  });

  it('copied into another challenge, it does not open: that challenge counts as none', async () => {
    const first = await startEnrolment(server, fay);
    const second = await startEnrolment(server, fay);
    await sql(
      url,
      'UPDATE tokens SET pending_secret = (SELECT pending_secret FROM tokens WHERE hash = $1) WHERE hash = $2',
      [hashToken(first.mfaToken), hashToken(second.mfaToken)],
    );
    const refused = await confirmEnrolment(server, second.mfaToken, first.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_mfa_token');
    expect(refused.body.token).toBeUndefined();
    // The challenge the value belongs to still completes.
    expect((await confirmEnrolment(server, first.mfaToken, first.secret)).status).toBe(200);
  });

  it('a clear one left from before the key is still read: that enrolment completes', async () => {
    const challenge = await startEnrolment(server, gus);
    await sql(url, 'UPDATE tokens SET pending_secret = $1 WHERE hash = $2', [
      challenge.secret,
      hashToken(challenge.mfaToken),
    ]);
    expect((await confirmEnrolment(server, challenge.mfaToken, challenge.secret)).status).toBe(200);
  });
});

describe('PostgreSQL: the key check at start', () => {
  it('another key refuses to start with one line, and changes nothing in the database', async () => {
    const url = await createDatabase('wrongkey');
    const server = await startServer({ env: postgresEnv(url) });
    const admin = await adminToken(server);
    await createTotpUser(server, admin, 'alice');
    await server.stop();
    const before = await dumpRows(url);

    const wrong = newStorageKey().text();
    const { code, output } = await runServerToExit(postgresEnv(url, { STORAGE_ENCRYPTION_KEY: wrong }));
    expect(code).toBe(1);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'error',
      msg: 'cannot start',
      error: 'the storage key does not match the store',
    });
    expect(output).not.toContain(wrong);
    expect(await dumpRows(url)).toBe(before);
  });

  it('is required with DATABASE_URL: without it the server refuses in one line naming the setting', async () => {
    const url = await createDatabase('nokey');
    const { code, output } = await runServerToExit(postgresEnv(url, { STORAGE_ENCRYPTION_KEY: '' }));
    expect(code).toBe(1);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string).error).toMatch(
      /^STORAGE_ENCRYPTION_KEY or STORAGE_ENCRYPTION_KEY_FILE is required with DATABASE_URL .*openssl rand -base64 32/,
    );
    // Refused before the store was opened: not even the schema was created.
    expect(await sql(url, "SELECT 1 FROM pg_tables WHERE schemaname = 'public'")).toEqual([]);
  });

  it('a database from before the storage key has its clear values sealed at the first start with one', async () => {
    const url = await createDatabase('upgrade');
    let server = await startServer({ env: postgresEnv(url) });
    const admin = await adminToken(server);
    const alice = await createTotpUser(server, admin, 'alice');
    expect((await call(server.url, 'GET', '/oidc/jwks')).status).toBe(200);
    const keys = await clearKeys(url);
    await server.stop();
    // As an older version left it: clear values, no key check.
    await sql(url, "UPDATE users SET totp_secret = $1 WHERE username = 'alice'", [alice.secret]);
    await sql(url, 'UPDATE oidc_keys SET keys = $1', [JSON.stringify(keys)]);
    await sql(url, 'DELETE FROM storage_key');
    expect(await dumpRows(url)).toContain(alice.secret);

    server = await startServer({ env: postgresEnv(url) });
    try {
      const dump = await dumpRows(url);
      expect(dump).not.toContain(alice.secret);
      expect(dump).not.toContain(String(keys?.signing[0]?.jwk.d));
      expect(await sql(url, 'SELECT key_id FROM storage_key')).toEqual([
        { key_id: TEST_STORAGE_KEYS.current.id },
      ]);
      // Same secret, same keys: the user's app and the published key set are unchanged.
      expect(await signInWithTotp(server, alice)).toEqual(expect.any(String));
      expect(await clearKeys(url)).toEqual(keys);
    } finally {
      await server.stop();
    }
  });
});
