/**
 * The PostgreSQL store: the Store contract (the same suite lowdb passes), then what only this
 * adapter has: migrations under a lock, a schema newer than the code, several store instances on one
 * database (as several servers would be), sweeping, and the database going away.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseUnreachableError, PostgresStore } from '../../server/store/postgres';
import { Db } from '../../server/store/postgres/db';
import { loadMigrations, migrate, SchemaTooNewError } from '../../server/store/postgres/migrations';
import { createUser } from '../../server/store/postgres/users';
import { OPEN_LOCKOUT, unknownNameKey } from '../../server/store/records';
import { StoreSecrets } from '../../server/store/secrets';
import { type Lockout, type Store, StoreUnavailableError } from '../../server/store/types';
import { storeContract } from '../store/contract';
import { oidcStoreContract } from '../store/oidc-contract';
import { makeToken, makeUser } from '../store/store-fixtures';
import { createDatabase, createSchema } from './databases';

let databaseUrl: string;
beforeAll(async () => {
  databaseUrl = await createDatabase('store');
});

const opened: PostgresStore[] = [];
const urls = new WeakMap<Store, string>();
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function openOn(url: string): Promise<PostgresStore> {
  const store = new PostgresStore({ url, poolSize: 20 });
  await store.open();
  opened.push(store);
  urls.set(store, url);
  return store;
}

const harness = {
  async open(): Promise<Store> {
    return openOn(await createSchema(databaseUrl));
  },
  async reopen(store: Store): Promise<Store> {
    const url = urls.get(store);
    if (!url) throw new Error('not a store of this harness');
    await store.close();
    return openOn(url);
  },
  async unopened(): Promise<Store> {
    return new PostgresStore({ url: await createSchema(databaseUrl) });
  },
};
storeContract('postgres', harness);
// No files to search for a bearer id: 'postgres: OpenID Connect records' below looks in the table.
oidcStoreContract('postgres', harness);

async function sql<R extends object>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

describe('postgres: migrations', () => {
  it('applies the schema once, recorded, when several instances open an empty database together', async () => {
    const url = await createSchema(databaseUrl);
    await Promise.all(Array.from({ length: 4 }, () => openOn(url)));
    const rows = await sql<{ version: number; name: string }>(
      url,
      'SELECT version, name FROM sparekey_migrations ORDER BY version',
    );
    const known = await loadMigrations();
    expect(rows).toEqual(known.map(({ version, name }) => ({ version, name })));
  });

  it('006 keeps a policy saved before it, with "Administrators must use MFA" off', async () => {
    const url = await createSchema(databaseUrl);
    await (await openOn(url)).close();
    opened.splice(0);
    // The database as version 005 left it, with a saved policy.
    await sql(url, 'ALTER TABLE policy DROP COLUMN admins_must_use_mfa');
    await sql(url, 'DELETE FROM sparekey_migrations WHERE version = 6');
    await sql(
      url,
      `INSERT INTO policy (singleton, mfa_usage, backup_codes_enabled, backup_codes_count, warn_when_remaining)
       VALUES (true, 'required', true, 12, 2)`,
    );
    const store = await openOn(url);
    expect(await store.getPolicy()).toEqual({
      mfaUsage: 'required',
      backupCodes: { enabled: true, count: 12, warnWhenRemaining: 2 },
      adminsMustUseMfa: false,
    });
  });

  it('008 applies on a database at 007: the rows written before it are locked, counted and read as before', async () => {
    const url = await createSchema(databaseUrl);
    const alice = makeUser('alice', {
      backupCodes: {
        id: 'set-1',
        salt: 'c2FsdA==',
        generatedAt: '2026-11-27T10:00:00.000Z',
        codes: [
          { number: 1, digest: 'ZGlnZXN0MQ==', usedAt: null },
          { number: 2, digest: 'ZGlnZXN0Mg==', usedAt: null },
        ],
      },
    });
    const ip = '203.0.113.7';
    const ipHash = createHash('sha256').update(ip).digest('hex');
    // The database as the code of 007 left it: a user with codes, two attempts of an address, a name tried once.
    const db = new Db({ url }, () => {});
    try {
      await migrate(
        db,
        (await loadMigrations()).filter((migration) => migration.version <= 7),
      );
      await createUser(db, new StoreSecrets(null), alice);
    } finally {
      await db.end();
    }
    await sql(
      url,
      "INSERT INTO ip_failures (ip_hash, at) VALUES ($1, '2026-11-27T10:00:00Z'), ($1, '2026-11-27T10:01:00Z')",
      [ipHash],
    );
    const tried = { ...OPEN_LOCKOUT, failures: ['2026-11-27T10:00:00.000Z'], consecutiveFailures: 1 };
    await sql(url, 'INSERT INTO unknown_name_lockouts (name_hash, lockout) VALUES ($1, $2)', [
      unknownNameKey('mallory'),
      JSON.stringify(tried),
    ]);

    const store = await openOn(url);
    const applied = await sql<{ name: string }>(
      url,
      'SELECT name FROM sparekey_migrations WHERE version = 8',
    );
    expect(applied).toEqual([{ name: '008_one_round_trip' }]);
    // The two attempts of 007 count: room for one more of three, then none.
    const since = '2026-11-27T09:45:00.000Z';
    expect(await store.reserveIpAttempt(ip, since, 3, '2026-11-27T10:02:00.000Z')).toBe(true);
    expect(await store.reserveIpAttempt(ip, since, 3, '2026-11-27T10:02:00.000Z')).toBe(false);
    await store.releaseIpAttempt(ip, '2026-11-27T10:00:00.000Z');
    expect(await store.countIpFailures(ip, since)).toBe(2);
    // The user and its codes, read under its lock; one code spent, the other left.
    const spent = await store.updateUser(alice.id, (user) => {
      const set = user.backupCodes;
      if (!set) return { user: null, result: null };
      const codes = set.codes.map((code) =>
        code.number === 1 ? { ...code, usedAt: '2026-11-27T10:05:00.000Z' } : code,
      );
      return { user: { ...user, backupCodes: { ...set, codes } }, result: set.codes.length };
    });
    expect(spent).toBe(2);
    expect((await store.getUser(alice.id))?.backupCodes?.codes.map((code) => code.usedAt)).toEqual([
      '2026-11-27T10:05:00.000Z',
      null,
    ]);
    // The name's lockout of 007 is the one the next change starts from.
    const seen = await store.updateUnknownNameLockout('mallory', (lockout) => ({ lockout, result: lockout }));
    expect(seen).toEqual(tried);
  });

  it('refuses to start on a schema newer than the code, and says so', async () => {
    const url = await createSchema(databaseUrl);
    await (await openOn(url)).close();
    await sql(
      url,
      "INSERT INTO sparekey_migrations (version, name, checksum) VALUES (999, '999_future', 'x')",
    );
    const store = new PostgresStore({ url });
    await expect(store.open()).rejects.toBeInstanceOf(SchemaTooNewError);
    await expect(store.open()).rejects.toThrow(/schema is at version 999 .*newer than this build/);
  });

  it('refuses a database whose applied migration differs from the file', async () => {
    const url = await createSchema(databaseUrl);
    await (await openOn(url)).close();
    await sql(url, "UPDATE sparekey_migrations SET checksum = 'edited' WHERE version = 1");
    await expect(new PostgresStore({ url }).open()).rejects.toThrow(/was changed after it was applied/);
  });
});

describe('postgres: several instances on one database', () => {
  it('spends a code exactly once when 50 spends race across two store instances', async () => {
    const url = await createSchema(databaseUrl);
    const [one, two] = [await openOn(url), await openOn(url)];
    const alice = makeUser('alice', {
      backupCodes: {
        id: 'set-1',
        salt: 'c2FsdA==',
        generatedAt: '2026-11-27T10:00:00.000Z',
        codes: [{ number: 1, digest: 'ZGlnZXN0', usedAt: null }],
      },
    });
    await one.createUser(alice);
    const spend = (store: Store) =>
      store.updateUser(alice.id, (user) => {
        const set = user.backupCodes;
        if (!set || set.codes[0]?.digest === null) return { user: null, result: false };
        const codes = [{ number: 1, digest: null, usedAt: '2026-11-27T10:05:00.000Z' }];
        return { user: { ...user, backupCodes: { ...set, codes } }, result: true };
      });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => spend(i % 2 ? one : two)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('grants one address exactly its limit when 60 reservations race across two store instances', async () => {
    const url = await createSchema(databaseUrl);
    const [one, two] = [await openOn(url), await openOn(url)];
    const since = '2026-11-27T09:45:00.000Z';
    const at = '2026-11-27T10:00:00.000Z';
    const granted = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? one : two).reserveIpAttempt('203.0.113.7', since, 20, at),
      ),
    );
    expect(granted.filter(Boolean)).toHaveLength(20);
    expect(await one.countIpFailures('203.0.113.7', since)).toBe(20);
    // Five releases racing on both give back five slots, though all twenty were made in one millisecond.
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => (i % 2 ? one : two).releaseIpAttempt('203.0.113.7', at)),
    );
    expect(await two.countIpFailures('203.0.113.7', since)).toBe(15);
  });

  it('loses none of 40 lockout changes of one user, or of one unknown name, racing across two instances', async () => {
    const url = await createSchema(databaseUrl);
    const [one, two] = [await openOn(url), await openOn(url)];
    const alice = makeUser('alice');
    await one.createUser(alice);
    const countFailure = (lockout: Lockout) => ({
      ...lockout,
      consecutiveFailures: lockout.consecutiveFailures + 1,
    });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? one : two).updateUser(alice.id, (user) => ({
          user: { ...user, mfaLockout: countFailure(user.mfaLockout) },
          result: null,
        })),
      ),
    );
    expect((await one.getUser(alice.id))?.mfaLockout.consecutiveFailures).toBe(40);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? one : two).updateUnknownNameLockout('mallory', (lockout) => ({
          lockout: countFailure(lockout),
          result: null,
        })),
      ),
    );
    const last = await two.updateUnknownNameLockout('mallory', (lockout) => ({ lockout, result: lockout }));
    expect(last.consecutiveFailures).toBe(40);
  });

  it('sees a policy, a user and a logout written through another instance at once (no cache)', async () => {
    const url = await createSchema(databaseUrl);
    const [one, two] = [await openOn(url), await openOn(url)];
    const alice = makeUser('alice');
    await one.createUser(alice);
    const session = makeToken(alice.id);
    await one.putToken(session);
    expect(await two.getToken(session.hash)).toEqual(session);
    await two.deleteToken(session.hash);
    await one.putToken({ ...session, lastSeenAt: '2026-11-27T10:31:00.000Z' });
    expect(await one.getToken(session.hash)).toBeNull();

    await two.setPolicy({
      mfaUsage: 'required',
      backupCodes: { enabled: true, count: 5, warnWhenRemaining: 1 },
    });
    expect((await one.getPolicy()).mfaUsage).toBe('required');
    await two.updateUser(alice.id, (user) => ({ user: { ...user, role: 'admin' }, result: null }));
    expect(await one.listAdminIds()).toEqual([alice.id]);
  });
});

describe('postgres: createUsers (the bulk insert of the migration and the benchmark)', () => {
  it('inserts many records in order, each read back exactly, and refuses a taken name whole', async () => {
    const store = await openOn(await createSchema(databaseUrl));
    const records = Array.from({ length: 30 }, (_, i) =>
      makeUser(`bulk${i}`, {
        // Lockout arrays of unequal lengths and the optional flag present or absent, through one unnest.
        mfaLockout: {
          failures: i % 2 ? ['2026-11-27T10:01:00.000Z', '2026-11-27T10:02:00.500Z'] : [],
          lockedUntil: i % 4 === 1 ? '2026-11-27T10:20:00.000Z' : null,
          locks: i % 3,
          consecutiveFailures: i,
          needsAdminUnlock: i === 7,
        },
        passwordLockout: {
          failures: i % 3 ? ['2026-11-27T10:03:00.000Z'] : [],
          lockedUntil: null,
          locks: 0,
          consecutiveFailures: i % 5,
          needsAdminUnlock: false,
        },
        ...(i % 4 === 0 ? {} : { mustChangePassword: i % 4 === 1 }),
        mfa: { type: 'totp', secret: 'JBSWY3DPEHPK3PXP', enrolled: true, configureLater: false, lastStep: i },
        backupCodes:
          i % 3 === 0
            ? null
            : {
                id: `set-${i}`,
                salt: 'c2FsdA==',
                generatedAt: '2026-11-27T10:00:00.000Z',
                codes: [
                  { number: 1, digest: null, usedAt: '2026-11-27T10:05:00.000Z' },
                  { number: 2, digest: `ZGln${i}`, usedAt: null },
                ],
              },
      }),
    );
    await store.createUsers(records);
    expect(await store.listUsers()).toStrictEqual(records);
    await expect(store.createUsers([makeUser('fresh'), makeUser('BULK3')])).rejects.toThrow();
    expect(await store.findUserByUsername('fresh')).toBeNull();
  });
});

describe('postgres: OpenID Connect records', () => {
  it('keeps a record id (a bearer value) only as its hash, and serves it from any instance', async () => {
    const url = await createSchema(databaseUrl);
    const [one, two] = [await openOn(url), await openOn(url)];
    const token = 'bearer-value-that-must-not-be-in-the-table';
    await one.oidcPut(
      'AccessToken',
      token,
      { jti: token, grantId: 'g', accountId: 'alice' },
      Date.now() + 60_000,
    );
    const [row] = await sql<{ row: string }>(url, 'SELECT oidc_records::text AS row FROM oidc_records');
    expect(row?.row).not.toContain(token);
    expect(await two.oidcGet('AccessToken', token)).toMatchObject({ jti: token, accountId: 'alice' });
  });

  it('lets one consumer of a code win across two instances, and creates one key set between them', async () => {
    const url = await createSchema(databaseUrl);
    const [one, two] = [await openOn(url), await openOn(url)];
    await one.oidcPut('AuthorizationCode', 'code-1', { grantId: 'g1' }, Date.now() + 60_000);
    const consumed = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).oidcConsume('AuthorizationCode', 'code-1', 5)),
    );
    expect(consumed.filter(Boolean)).toHaveLength(1);
    let created = 0;
    const make = (store: Store) =>
      store.updateOidcKeys((current) => {
        if (current) return null;
        created++;
        return { signing: [], cookieSecrets: [`secret-${created}`] };
      });
    const [a, b] = await Promise.all([make(one), make(two)]);
    expect(created).toBe(1);
    expect(a).toEqual(b);
  });
});

describe('postgres: sweeping', () => {
  it('removes old tombstones and abandoned rows, keeps live tokens and tokens written under a fake clock', async () => {
    const url = await createSchema(databaseUrl);
    const store = await openOn(url);
    const longAgo = '2020-01-01T00:00:00.000Z';
    const abandoned = makeToken('user-1', { expiresAt: longAgo });
    const fresh = makeToken('user-1', { expiresAt: longAgo });
    const live = makeToken('user-1', { expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    const loggedOut = makeToken('user-1');
    for (const token of [abandoned, fresh, live, loggedOut]) await store.putToken(token);
    await store.deleteToken(loggedOut.hash);
    await store.reserveIpAttempt('198.51.100.1', longAgo, 20, longAgo);
    // Age the rows by the database's clock, as a day without writes would.
    await sql(url, "UPDATE tokens SET written_at = now() - interval '2 days' WHERE hash = ANY($1)", [
      [abandoned.hash, live.hash],
    ]);
    await sql(url, "UPDATE tokens SET dead_at = now() - interval '11 minutes' WHERE hash = $1", [
      loggedOut.hash,
    ]);
    await sql(url, "UPDATE ip_failures SET written_at = now() - interval '2 days'");

    expect(await store.sweepExpired()).toBe(3);
    expect(await store.getToken(abandoned.hash)).toBeNull();
    expect(await store.getToken(fresh.hash)).toEqual(fresh);
    expect(await store.getToken(live.hash)).toEqual(live);
    expect(await sql(url, 'SELECT hash FROM tokens WHERE hash = $1', [loggedOut.hash])).toEqual([]);
  });

  it('removes an unknown name idle for a day, but keeps one that locked for 30 days', async () => {
    const url = await createSchema(databaseUrl);
    const store = await openOn(url);
    const failed = { ...OPEN_LOCKOUT, failures: ['2026-11-27T10:00:00.000Z'], consecutiveFailures: 1 };
    const locked = { ...failed, locks: 1, lockedUntil: '2026-11-27T10:15:00.000Z' };
    const admin = { ...failed, consecutiveFailures: 100, needsAdminUnlock: true };
    const lockouts: Array<[string, Lockout, string]> = [
      ['mallory', failed, '2 days'],
      ['trudy', locked, '2 days'],
      ['walter', admin, '2 days'],
      ['eve', locked, '31 days'],
    ];
    for (const [name, lockout, idle] of lockouts) {
      await store.updateUnknownNameLockout(name, () => ({ lockout, result: null }));
      await sql(
        url,
        `UPDATE unknown_name_lockouts SET written_at = now() - interval '${idle}' WHERE name_hash = $1`,
        [unknownNameKey(name)],
      );
    }
    expect(await store.sweepExpired()).toBe(2);
    const kept = await sql<{ name_hash: string }>(
      url,
      'SELECT name_hash FROM unknown_name_lockouts ORDER BY name_hash',
    );
    expect(kept.map((row) => row.name_hash)).toEqual(
      [unknownNameKey('trudy'), unknownNameKey('walter')].sort(),
    );
  });
});

describe('postgres: the database out of reach', () => {
  it('fails to open with a message naming the host and port, not a stack trace', async () => {
    const store = new PostgresStore({
      url: 'postgres://sparekey:secret@127.0.0.1:1/sparekey',
      statementTimeoutMs: 2000,
    });
    const error = await store.open().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DatabaseUnreachableError);
    expect(String(error)).toMatch(/Cannot reach the database at 127\.0\.0\.1:1\/sparekey \(ECONNREFUSED/);
    expect(String(error)).not.toContain('secret');
  });

  it('turns a lost connection into StoreUnavailableError, then works again once the database is back', async () => {
    const url = await createSchema(databaseUrl);
    const store = await openOn(url);
    const alice = makeUser('alice');
    await store.createUser(alice);
    // Every connection of this file's database is ended by the server, as a restart would.
    await sql(
      url,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'sparekey' AND datname = current_database() AND pid <> pg_backend_pid()`,
    );
    const first = await store.getUser(alice.id).catch((thrown: unknown) => thrown);
    // The pool noticed the closed connections (an 'error' event, not a crash) or the query failed with 503.
    if (first instanceof Error) expect(first).toBeInstanceOf(StoreUnavailableError);
    else expect(first).toEqual(alice);
    expect(await store.getUser(alice.id)).toEqual(alice);
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
