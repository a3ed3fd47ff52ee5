/**
 * `sparekey store rekey` on PostgreSQL, online (issue #20, item 3): two instances holding both keys
 * keep signing users in (password step, which opens the sealed secret, and the TOTP step) and enrol
 * new ones while the command re-seals in batches; none fails. Afterwards nothing is under the old
 * key, instances holding only the new key serve, and one holding only the old key is refused. An
 * enrolment challenge still under the old key is ended by the rekey (the user signs in again).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, type BenchUser, createTotpUser, signInWithTotp, startMfa } from '../../bench/accounts';
import { newStorageKey } from '../../server/crypto/sealing';
import { hashToken } from '../../server/crypto/tokens';
import { newTotpSecret } from '../../server/crypto/totp';
import { PostgresStore } from '../../server/store/postgres';
import { RESEAL_BATCH } from '../../server/store/postgres/storage-key';
import type { UserRecord } from '../../server/store/types';
import { runScript } from '../support/cli';
import { type Credentials, confirmEnrolment, enrolmentUsers, startEnrolment } from '../support/enrolment';
import { call, type RunningServer, runServerToExit, startServer } from '../support/server';
import { createDatabase } from './databases';
import { postgresEnv, STORAGE_KEY_ENV, TEST_STORAGE_KEYS } from './servers';

const OPEN_LOCKOUT = {
  failures: [],
  lockedUntil: null,
  locks: 0,
  consecutiveFailures: 0,
  needsAdminUnlock: false,
};
/** Enough users for several batches, so sign-ins run between the re-sealing transactions. */
const FILLER = RESEAL_BATCH * 8;

async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

describe('PostgreSQL: store rekey, online', () => {
  const oldKey = TEST_STORAGE_KEYS.current;
  const newKey = newStorageKey();
  const both = { STORAGE_ENCRYPTION_KEY: newKey.text(), STORAGE_ENCRYPTION_PREVIOUS_KEY: oldKey.text() };
  let url: string;
  let servers: RunningServer[] = [];
  let keyFile: string;
  let users: BenchUser[];

  beforeAll(async () => {
    url = await createDatabase('rekey');
    // Under the old key: users enrolled through the API, and many more in bulk, sealed by the store.
    let server = await startServer({ env: postgresEnv(url) });
    const admin = await adminToken(server);
    users = [];
    for (const name of ['ann', 'ben', 'cat', 'dan']) users.push(await createTotpUser(server, admin, name));
    expect((await call(server.url, 'GET', '/oidc/jwks')).status).toBe(200);
    await server.stop();
    const store = new PostgresStore({ url, storageKeys: TEST_STORAGE_KEYS });
    await store.open();
    const createdAt = new Date().toISOString();
    await store.createUsers(
      Array.from(
        { length: FILLER },
        (_, i): UserRecord => ({
          id: `filler-${i}`,
          username: `filler${i}`,
          role: 'user',
          passwordHash: 'unused',
          createdAt,
          mfa: {
            type: 'totp',
            secret: newTotpSecret(),
            enrolled: true,
            configureLater: false,
            lastStep: null,
          },
          backupCodes: null,
          passwordLockout: OPEN_LOCKOUT,
          mfaLockout: OPEN_LOCKOUT,
        }),
      ),
    );
    await store.close();
    // The operator's first step: every instance gets the new key, the old one as previous.
    const env = postgresEnv(url, both);
    server = await startServer({ env });
    servers = [server, await startServer({ env })];
    const dir = await mkdtemp(join(tmpdir(), 'sparekey-rekey-'));
    keyFile = join(dir, 'new.key');
    await writeFile(keyFile, `${newKey.text()}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('before the rekey, instances holding both keys still seal under the old one (the store says so)', async () => {
    const admin = await adminToken(servers[0] as RunningServer);
    users.push(await createTotpUser(servers[1] as RunningServer, admin, 'eve'));
    const [row] = await sql(url, "SELECT totp_secret FROM users WHERE username = 'eve'");
    expect(row?.totp_secret).toMatch(new RegExp(`^sk1\\.${oldKey.id}\\.`));
  });

  it('re-seals everything while both instances sign users in and enrol new ones; none fails', async () => {
    const admin = await adminToken(servers[0] as RunningServer);
    let running = true;
    const failures: string[] = [];
    let steps = 0;
    const load = async (worker: number) => {
      for (let i = 0; running; i++) {
        const server = servers[(worker + i) % servers.length] as RunningServer;
        const user = users[(worker + i) % users.length] as BenchUser;
        await startMfa(server, user).then(
          () => steps++,
          (error: Error) => failures.push(error.message),
        );
      }
    };
    const enrol = async () => {
      for (let i = 0; running; i++) {
        await createTotpUser(servers[i % 2] as RunningServer, admin, `new${i}`).then(
          (user) => users.push(user),
          (error: Error) => failures.push(error.message),
        );
      }
    };
    const workers = [load(0), load(1), load(2), enrol()];
    const result = await runScript('server/cli/store-rekey.ts', ['--new-key-file', keyFile], {
      env: postgresEnv(url, both),
    });
    running = false;
    await Promise.all(workers);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^Re-encrypted \\d+ stored secret\\(s\\) under the key ${newKey.id}`),
    );
    expect(failures).toEqual([]);
    expect(steps).toBeGreaterThan(0);

    const [check] = await sql(url, 'SELECT key_id, previous_key_id FROM storage_key');
    expect(check).toEqual({ key_id: newKey.id, previous_key_id: null });
    const left = await sql(url, 'SELECT count(*)::int AS n FROM users WHERE totp_secret NOT LIKE $1', [
      `sk1.${newKey.id}.%`,
    ]);
    expect(left).toEqual([{ n: 0 }]);
    const [keys] = await sql(url, "SELECT keys->>'sealed' AS sealed FROM oidc_keys");
    expect(keys?.sealed).toMatch(new RegExp(`^sk1\\.${newKey.id}\\.`));
    // Every user, including those enrolled during the rekey, completes a TOTP sign-in.
    for (const user of users)
      expect(await signInWithTotp(servers[0] as RunningServer, user)).toEqual(expect.any(String));
  });

  it('run again, it says there is nothing to do; instances with only the new key serve; the old key alone is refused', async () => {
    const again = await runScript('server/cli/store-rekey.ts', ['--new-key-file', keyFile], {
      env: postgresEnv(url, both),
    });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`The store is already under the key ${newKey.id}; nothing to re-encrypt.\n`);

    const onlyNew = await startServer({ env: postgresEnv(url, { STORAGE_ENCRYPTION_KEY: newKey.text() }) });
    try {
      expect(await startMfa(onlyNew, users[0] as BenchUser)).toEqual(expect.any(String));
    } finally {
      await onlyNew.stop();
    }
    const onlyOld = await runServerToExit(postgresEnv(url, STORAGE_KEY_ENV));
    expect(onlyOld.code).toBe(1);
    expect(onlyOld.output.trim().split('\n')).toHaveLength(1);
    expect(onlyOld.output).toContain('"error":"the storage key does not match the store"');
  });

  it('refuses in one line a key file that is not a key, a missing option, and a store under a key it lacks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sparekey-rekey-bad-'));
    const bad = join(dir, 'bad.key');
    await writeFile(bad, 'hunter2\n', { mode: 0o600 });
    const garbage = await runScript('server/cli/store-rekey.ts', ['--new-key-file', bad], {
      env: postgresEnv(url, { STORAGE_ENCRYPTION_KEY: newKey.text() }),
    });
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(
      /^--new-key-file .*bad\.key must be at least 32 random bytes in base64 or hex/,
    );
    expect(garbage.stderr.trim().split('\n')).toHaveLength(1);
    expect(garbage.stderr).not.toContain('hunter2');

    const missing = await runScript('server/cli/store-rekey.ts', [], { env: postgresEnv(url) });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^--new-key-file is required\.\nusage: sparekey store rekey/);

    const unknown = await runScript('server/cli/store-rekey.ts', ['--new-key', keyFile], {
      env: postgresEnv(url),
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^Unknown option '--new-key'/);

    const third = join(dir, 'third.key');
    await writeFile(third, newStorageKey().text(), { mode: 0o600 });
    const stranger = await runScript('server/cli/store-rekey.ts', ['--new-key-file', third], {
      env: postgresEnv(url, STORAGE_KEY_ENV),
    });
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toBe('the storage key does not match the store\n');
    const [check] = await sql(url, 'SELECT key_id FROM storage_key');
    expect(check?.key_id).toBe(newKey.id);
  });
});

describe('PostgreSQL: store rekey and an enrolment waiting under the old key', () => {
  it('ends the challenge (no value left under the old key); it counts as none, a new sign-in enrols', async () => {
    const url = await createDatabase('rekeypending');
    const newKey = newStorageKey();
    let server = await startServer({ env: postgresEnv(url) });
    const [erin] = (await enrolmentUsers(server, 'erin')) as [Credentials];
    const pending = await startEnrolment(server, erin);
    await server.stop();
    const dir = await mkdtemp(join(tmpdir(), 'sparekey-rekey-pending-'));
    const keyFile = join(dir, 'new.key');
    await writeFile(keyFile, `${newKey.text()}\n`, { mode: 0o600 });
    const both = {
      STORAGE_ENCRYPTION_KEY: newKey.text(),
      STORAGE_ENCRYPTION_PREVIOUS_KEY: TEST_STORAGE_KEYS.current.text(),
    };
    const rekey = await runScript('server/cli/store-rekey.ts', ['--new-key-file', keyFile], {
      env: postgresEnv(url, both),
    });
    expect(rekey.stderr).toBe('');
    expect(rekey.code).toBe(0);
    const rows = await sql(
      url,
      'SELECT pending_secret, dead_at IS NOT NULL AS ended FROM tokens WHERE hash = $1',
      [hashToken(pending.mfaToken)],
    );
    expect(rows).toEqual([{ pending_secret: null, ended: true }]);

    server = await startServer({ env: postgresEnv(url, { STORAGE_ENCRYPTION_KEY: newKey.text() }) });
    try {
      const refused = await confirmEnrolment(server, pending.mfaToken, pending.secret);
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('invalid_mfa_token');
      const again = await startEnrolment(server, erin);
      expect((await confirmEnrolment(server, again.mfaToken, again.secret)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('PostgreSQL: enrolments started while the rekey runs', () => {
  it('leave no pending secret under the old key; each last challenge completes or counts as none, never a 500', async () => {
    const url = await createDatabase('rekeyenrolling');
    const newKey = newStorageKey();
    const setup = await startServer({ env: postgresEnv(url) });
    const people = await enrolmentUsers(setup, 'ann', 'ben', 'cat', 'dan');
    await setup.stop();
    const both = {
      STORAGE_ENCRYPTION_KEY: newKey.text(),
      STORAGE_ENCRYPTION_PREVIOUS_KEY: TEST_STORAGE_KEYS.current.text(),
    };
    const instances = [
      await startServer({ env: postgresEnv(url, both) }),
      await startServer({ env: postgresEnv(url, both) }),
    ];
    const dir = await mkdtemp(join(tmpdir(), 'sparekey-rekey-enrolling-'));
    const keyFile = join(dir, 'new.key');
    await writeFile(keyFile, `${newKey.text()}\n`, { mode: 0o600 });
    try {
      let running = true;
      const last = new Map<string, { mfaToken: string; secret: string }>();
      const failures: string[] = [];
      const enrolling = async (worker: number) => {
        for (let i = 0; running && i < 200; i++) {
          const person = people[(worker + i) % people.length] as Credentials;
          await startEnrolment(instances[i % 2] as RunningServer, person).then(
            (challenge) => last.set(person.username, challenge),
            (error: Error) => failures.push(error.message),
          );
        }
      };
      const workers = [enrolling(0), enrolling(1)];
      const rekey = await runScript('server/cli/store-rekey.ts', ['--new-key-file', keyFile], {
        env: postgresEnv(url, both),
      });
      running = false;
      await Promise.all(workers);
      expect(rekey.stderr).toBe('');
      expect(rekey.code).toBe(0);
      expect(failures).toEqual([]);
      const left = await sql(
        url,
        'SELECT count(*)::int AS n FROM tokens WHERE dead_at IS NULL AND pending_secret IS NOT NULL AND pending_secret NOT LIKE $1',
        [`sk1.${newKey.id}.%`],
      );
      expect(left).toEqual([{ n: 0 }]);
      for (const challenge of last.values()) {
        const res = await confirmEnrolment(
          instances[0] as RunningServer,
          challenge.mfaToken,
          challenge.secret,
        );
        if (res.status !== 200) expect(res.body.error.code).toBe('invalid_mfa_token');
      }
    } finally {
      await Promise.all(instances.map((server) => server.stop()));
    }
  });
});
