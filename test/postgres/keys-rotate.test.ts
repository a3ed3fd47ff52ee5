/**
 * The operations commands on the PostgreSQL store: `npm run keys:rotate` rotates the keys in the
 * database while two instances run, and both serve the new key set within OIDC_KEY_REFRESH_SECONDS;
 * `--revoke-previous` takes a compromised key out at once. The lowdb-only store commands refuse
 * rather than acting on a DATA_DIR no server reads.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../server/store/postgres';
import { type CliResult, runCli, runScript } from '../support/cli';
import { HttpBrowser } from '../support/http-browser';
import { kidOf, verifiesAgainst } from '../support/jws';
import { adminToken, registerApp } from '../support/oidc-users';
import { type RelyingParty, startRelyingParty } from '../support/relying-party';
import { type RunningServer, startServer } from '../support/server';
import { createDatabase } from './databases';
import { FAST_ARGON2, postgresEnv, STORAGE_KEY_ENV, TEST_STORAGE_KEYS } from './servers';

/** The instances re-read the key set this often (seconds): short, so the test waits little. */
const REFRESH_SECONDS = 2;

type Jwks = { keys: { kid: string }[] };
const jwksOf = async (server: RunningServer): Promise<Jwks> =>
  (await fetch(`${server.url}/oidc/jwks`)).json() as Promise<Jwks>;
const kidsOf = async (server: RunningServer) => (await jwksOf(server)).keys.map((key) => key.kid);

/** Polls an instance's JWKS until it lists exactly `kids`; resolves with how long that took (ms). */
async function servesKids(server: RunningServer, kids: string[]): Promise<number> {
  const started = Date.now();
  for (;;) {
    const served = await kidsOf(server);
    if (JSON.stringify(served) === JSON.stringify(kids)) return Date.now() - started;
    if (Date.now() - started > (REFRESH_SECONDS + 5) * 1000) {
      throw new Error(`${server.url} still serves ${served.join(', ')}, not ${kids.join(', ')}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
}

describe('keys:rotate and the store commands on PostgreSQL', () => {
  let databaseUrl: string;
  let servers: RunningServer[] = [];
  let rp: RelyingParty;
  let emptyDir: string;
  /** The commands' environment: the database, and a DATA_DIR that must stay untouched. */
  let cliEnv: Record<string, string>;

  const rotate = (args: string[] = []) => runScript('server/keys-rotate.ts', args, { env: cliEnv });
  const keysInDatabase = async () => {
    const store = new PostgresStore({ url: databaseUrl, storageKeys: TEST_STORAGE_KEYS });
    await store.open();
    try {
      return await store.getOidcKeys();
    } finally {
      await store.close();
    }
  };
  const signIn = async () => {
    const browser = new HttpBrowser();
    const login = await browser.navigate(`${rp.url}/login`);
    const back = await browser.submit(login, {
      username: 'admin',
      password: servers[0]?.adminPassword ?? '',
    });
    expect(back.body).toContain('Signed in as <strong>admin</strong>');
    return rp.last as NonNullable<typeof rp.last>;
  };

  beforeAll(async () => {
    databaseUrl = await createDatabase('keys_rotate');
    const env = postgresEnv(databaseUrl, { OIDC_KEY_REFRESH_SECONDS: String(REFRESH_SECONDS) });
    servers = await Promise.all([startServer({ env }), startServer({ env })]);
    const [first] = servers as [RunningServer];
    rp = await startRelyingParty({ issuer: first.url });
    await registerApp(first, await adminToken(first), rp, 'public', 'Rotated');
    emptyDir = await mkdtemp(join(tmpdir(), 'sparekey-keys-pg-'));
    cliEnv = { DATABASE_URL: databaseUrl, DATA_DIR: emptyDir, ...FAST_ARGON2, ...STORAGE_KEY_ENV };
  }, 60_000);
  afterAll(async () => {
    await rp?.close();
    await Promise.all(servers.map((server) => server.stop()));
    await rm(emptyDir, { recursive: true, force: true });
  });

  it('rotates the database keys: both instances serve the new kid within the refresh; --revoke-previous unpublishes the old key', async () => {
    const before = await signIn();
    const [original] = await kidsOf(servers[0] as RunningServer);
    expect(kidOf(before.idToken)).toBe(original);
    const secretsBefore = (await keysInDatabase())?.cookieSecrets ?? [];

    const rotated = await rotate();
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/now signs \(postgres store\); still published: /);
    const keys = await keysInDatabase();
    const newKid = keys?.signing[0]?.kid as string;
    expect(newKid).not.toBe(original);
    // A new cookie secret signs; the previous one still reads cookies set before.
    expect(keys?.cookieSecrets).toHaveLength(2);
    expect(keys?.cookieSecrets[1]).toBe(secretsBefore[0]);
    for (const server of servers) {
      expect(await servesKids(server, [newKid, original as string])).toBeLessThan(
        (REFRESH_SECONDS + 2) * 1000,
      );
      // A token signed before the rotation still verifies for its hour.
      expect(verifiesAgainst(before.idToken, (await jwksOf(server)).keys)).toBe(true);
    }
    expect(kidOf((await signIn()).idToken)).toBe(newKid);

    const revoked = await rotate(['--revoke-previous']);
    expect(revoked.stderr).toBe('');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/the previous keys and cookie secrets are revoked/);
    const after = await keysInDatabase();
    const revokedKid = after?.signing[0]?.kid as string;
    expect(after?.signing.map((key) => key.kid)).toEqual([revokedKid]);
    expect(after?.cookieSecrets).toHaveLength(1);
    expect(keys?.cookieSecrets).not.toContain(after?.cookieSecrets[0]);
    for (const server of servers) {
      await servesKids(server, [revokedKid]);
      // An ID token signed with a revoked key no longer verifies against the published keys.
      expect(verifiesAgainst(before.idToken, (await jwksOf(server)).keys)).toBe(false);
    }
    const fresh = await signIn();
    expect(kidOf(fresh.idToken)).toBe(revokedKid);
    // Nothing went to the DATA_DIR the old command filled with a lowdb store of its own.
    expect(await readdir(emptyDir)).toEqual([]);
  }, 90_000);

  const refusedInOneLine = (result: CliResult, instead: RegExp) => {
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/DATABASE_URL is set, so the server's store is PostgreSQL/);
    expect(result.stderr).toMatch(instead);
  };

  it('store:backup, store:check and store:restore refuse in one line, naming what to use, and write nothing', async () => {
    const target = join(emptyDir, 'sparekey.backup');
    refusedInOneLine(await runCli('store-backup', ['--to', target], { env: cliEnv }), /pg_dump/);
    refusedInOneLine(await runCli('store-check', [], { env: cliEnv }), /pg_amcheck/);
    refusedInOneLine(
      await runCli('store-restore', ['--from', target, '--to', emptyDir], { env: cliEnv }),
      /pg_restore/,
    );
    expect(await readdir(emptyDir)).toEqual([]);
  }, 60_000);
});
