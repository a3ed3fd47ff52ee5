/**
 * Secrets at rest in the lowdb store (issue #20), through the real server: a newcomer's first start
 * generates the storage key into DATA_DIR (0600, announced once); no file of DATA_DIR holds a TOTP
 * secret, private signing key or cookie secret in clear; a sealed secret moved into another user's
 * file does not open; an enrolment challenge's pending secret is sealed too and does not open in
 * another challenge; a wrong key refuses at start in one line and changes nothing; a store from
 * before the key is sealed at the first start with one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, type BenchUser, createTotpUser, signInWithTotp } from '../../bench/accounts';
import { hashToken } from '../../server/crypto/tokens';
import { newTotpSecret } from '../../server/crypto/totp';
import { LowdbStore } from '../../server/store/lowdb';
import { seal, unseal } from '../../server/store/records';
import { runCli } from '../support/cli';
import { confirmEnrolment, enrolmentUsers, startEnrolment } from '../support/enrolment';
import { call, type RunningServer, runServerToExit, startServer } from '../support/server';

const FAST = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

/** Every file under `dir` (recursively) with its raw bytes: what a copy of DATA_DIR holds. */
function filesOf(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length), readFileSync(path));
  }
  return files;
}

const everything = (dir: string) => Buffer.concat([...filesOf(dir).values()]).toString('latin1');

/** The key set as the services see it, read through a store opened with DATA_DIR's generated key. */
async function clearKeys(dataDir: string) {
  const key = (await readFile(join(dataDir, 'storage.key'), 'utf8')).trim();
  const { parseStorageKey } = await import('../../server/crypto/sealing');
  const store = new LowdbStore(dataDir, { storageKeys: { current: parseStorageKey(key), previous: null } });
  await store.open();
  try {
    return await store.getOidcKeys();
  } finally {
    await store.close();
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sparekey-sealed-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lowdb: a newcomer with nothing set', () => {
  let dataDir: string;
  let server: RunningServer;
  let admin: string;
  let alice: BenchUser;
  let bob: BenchUser;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(dir, 'newcomer-'));
    server = await startServer({ dataDir, env: FAST });
    admin = await adminToken(server);
    alice = await createTotpUser(server, admin, 'alice');
    bob = await createTotpUser(server, admin, 'bob');
    expect((await call(server.url, 'GET', '/oidc/jwks')).status).toBe(200);
  });
  afterAll(async () => {
    await server.stop({ keepData: true });
  });

  it('gets DATA_DIR/storage.key generated, mode 0600, its place printed once and the key itself never', async () => {
    const file = join(dataDir, 'storage.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = readFileSync(file, 'utf8').trim();
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(server.output()).toContain(`Generated the storage key ${file} (mode 0600)`);
    expect(server.output()).not.toContain(key);
  });

  it('no TOTP secret, private key part or cookie secret appears in clear in any file of DATA_DIR', async () => {
    const keys = await clearKeysWhileRunning(dataDir);
    const [signing] = keys?.signing ?? [];
    const secrets = [
      alice.secret,
      bob.secret,
      ...['d', 'p', 'q', 'dp', 'dq', 'qi'].map((part) => String(signing?.jwk[part])),
      ...(keys?.cookieSecrets ?? []),
    ];
    expect(secrets.every((secret) => secret.length >= 16)).toBe(true);
    const raw = everything(dataDir);
    for (const secret of secrets) expect(raw).not.toContain(secret);
    const stored = JSON.parse(unseal(readFileSync(join(dataDir, 'users', `${alice.id}.json`), 'utf8')).json);
    expect(stored.mfa.secret).toMatch(/^sk1\.[0-9a-f]{32}\./);
    expect(await signInWithTotp(server, alice)).toEqual(expect.any(String));
  });

  it("a sealed secret copied into another user's file does not open: 503 for that account only", async () => {
    const carol = await createTotpUser(server, admin, 'carol');
    const read = (id: string) =>
      JSON.parse(unseal(readFileSync(join(dataDir, 'users', `${id}.json`), 'utf8')).json);
    const carolFile = read(carol.id);
    carolFile.mfa.secret = read(bob.id).mfa.secret;
    // A well-formed file (its checksum right): only the sealed value's record binding can tell.
    await writeFile(join(dataDir, 'users', `${carol.id}.json`), seal(JSON.stringify(carolFile)));
    await server.stop({ keepData: true });
    server = await startServer({ dataDir, env: FAST });
    const refused = await call(server.url, 'POST', '/api/auth/login', {
      body: { username: carol.username, password: carol.password },
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('account_damaged');
    expect(await signInWithTotp(server, bob)).toEqual(expect.any(String));
    // No second notice: the key file was there.
    expect(server.output()).not.toContain('Generated the storage key');
  });
});

/** The key set of a running server's store: read from the files with the generated key, without the lock. */
async function clearKeysWhileRunning(dataDir: string) {
  const copy = await mkdtemp(join(dir, 'copy-'));
  for (const [path, bytes] of filesOf(dataDir)) {
    if (path.endsWith('.lock') || path.includes('control.sock')) continue;
    const target = join(copy, path);
    await import('node:fs/promises').then((fs) => fs.mkdir(join(target, '..'), { recursive: true }));
    await writeFile(target, bytes);
  }
  return clearKeys(copy);
}

describe('lowdb: the key check at start', () => {
  it('a wrong key refuses in one line and changes no file', async () => {
    const dataDir = await mkdtemp(join(dir, 'wrong-'));
    const server = await startServer({ dataDir, env: FAST });
    await createTotpUser(server, await adminToken(server), 'alice');
    await server.stop({ keepData: true });
    const before = filesOf(dataDir);

    const wrong = randomBytes(32).toString('base64');
    const { code, output } = await runServerToExit({
      DATA_DIR: dataDir,
      STORAGE_ENCRYPTION_KEY: wrong,
      ...FAST,
    });
    expect(code).toBe(1);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      msg: 'cannot start',
      error: 'the storage key does not match the store',
    });
    expect(output).not.toContain(wrong);
    expect(filesOf(dataDir)).toEqual(before);
  });

  it('a restore into a store under another key refuses in one line and writes nothing', async () => {
    const dataDir = await mkdtemp(join(dir, 'restore-'));
    const server = await startServer({ dataDir, env: FAST });
    const alice = await createTotpUser(server, await adminToken(server), 'alice');
    await server.stop({ keepData: true });
    const archive = join(dir, 'restore.backup');
    const env = { DATA_DIR: dataDir, DATABASE_URL: '', STORAGE_ENCRYPTION_KEY: '' };
    const backup = await runCli('store-backup', ['--to', archive, '--unencrypted'], { env });
    expect(backup.code, backup.stderr).toBe(0);
    const before = filesOf(dataDir);

    const wrong = randomBytes(32).toString('base64');
    const restore = await runCli('store-restore', ['--from', archive, '--to', dataDir, '--user', 'alice'], {
      env: { ...env, STORAGE_ENCRYPTION_KEY: wrong },
    });
    expect(restore.code).toBe(1);
    // The archive names the key its secrets are sealed under: the refusal comes before the store is opened.
    expect(restore.stderr).toMatch(/^the storage key does not match the backup: [^\n]*\n$/);
    expect(filesOf(dataDir)).toEqual(before);
    // With the store's own key (the generated file) the same restore is judged on its merits.
    const right = await runCli('store-restore', ['--from', archive, '--to', dataDir, '--user', 'alice'], {
      env,
    });
    expect(right.stderr).toBe(`Account ${alice.username} is not damaged: it is left as it is.\n`);
  });

  it('a store from before the key has its clear secrets sealed at the first start', async () => {
    const dataDir = await mkdtemp(join(dir, 'upgrade-'));
    const secret = newTotpSecret();
    const old = new LowdbStore(dataDir);
    await old.open();
    const now = new Date().toISOString();
    const open = {
      failures: [],
      lockedUntil: null,
      locks: 0,
      consecutiveFailures: 0,
      needsAdminUnlock: false,
    };
    await old.createUser({
      id: 'legacy-user',
      username: 'legacy',
      role: 'user',
      passwordHash: 'unused',
      createdAt: now,
      mfa: { type: 'totp', secret, enrolled: true, configureLater: false, lastStep: null },
      backupCodes: null,
      passwordLockout: open,
      mfaLockout: open,
    });
    await old.close();
    expect(everything(dataDir)).toContain(secret);

    const server = await startServer({ dataDir, env: FAST });
    try {
      expect(everything(dataDir)).not.toContain(secret);
      expect((await call(server.url, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await server.stop({ keepData: true });
    }
    const reopened = await clearKeysAndUser(dataDir, 'legacy-user');
    expect(reopened).toBe(secret);
  });
});

/** The clear TOTP secret of `id`, read with DATA_DIR's generated key. */
async function clearKeysAndUser(dataDir: string, id: string): Promise<string | null | undefined> {
  const key = (await readFile(join(dataDir, 'storage.key'), 'utf8')).trim();
  const { parseStorageKey } = await import('../../server/crypto/sealing');
  const store = new LowdbStore(dataDir, { storageKeys: { current: parseStorageKey(key), previous: null } });
  await store.open();
  try {
    return (await store.getUser(id))?.mfa.secret;
  } finally {
    await store.close();
  }
}

const tokenPath = (dataDir: string, mfaToken: string) =>
  join(dataDir, 'tokens', `${hashToken(mfaToken)}.json`);
const readToken = (dataDir: string, mfaToken: string) =>
  JSON.parse(unseal(readFileSync(tokenPath(dataDir, mfaToken), 'utf8')).json);

describe("lowdb: an enrolment challenge's pending secret", () => {
  let dataDir: string;
  let server: RunningServer;
  let erin: { username: string; password: string };
  let fay: { username: string; password: string };
  let gus: { username: string; password: string };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(dir, 'pending-'));
    server = await startServer({ dataDir, env: FAST });
    [erin, fay, gus] = (await enrolmentUsers(server, 'erin', 'fay', 'gus')) as [
      typeof erin,
      typeof fay,
      typeof gus,
    ];
  });
  afterAll(async () => {
    await server.stop({ keepData: true });
  });

  it('appears in no file of DATA_DIR while the enrolment waits, and the enrolment completes with it', async () => {
    const challenge = await startEnrolment(server, erin);
    expect(challenge.secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(everything(dataDir)).not.toContain(challenge.secret);
    expect(readToken(dataDir, challenge.mfaToken).pendingSecret).toMatch(/^sk1\.[0-9a-f]{32}\./);

    const enrolled = await confirmEnrolment(server, challenge.mfaToken, challenge.secret);
    expect(enrolled.status).toBe(200);
    expect(enrolled.body.token).toEqual(expect.any(String));
  });

  it('copied into another challenge, it does not open: that challenge counts as none and is removed', async () => {
    const first = await startEnrolment(server, fay);
    const second = await startEnrolment(server, fay);
    await server.stop({ keepData: true });
    const copied = readToken(dataDir, second.mfaToken);
    copied.pendingSecret = readToken(dataDir, first.mfaToken).pendingSecret;
    // A well-formed file (its checksum right): only the sealed value's record binding can tell.
    await writeFile(tokenPath(dataDir, second.mfaToken), seal(JSON.stringify(copied)));
    server = await startServer({ dataDir, env: FAST });

    const refused = await confirmEnrolment(server, second.mfaToken, first.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_mfa_token');
    expect(refused.body.token).toBeUndefined();
    expect(existsSync(tokenPath(dataDir, second.mfaToken))).toBe(false);
    // The challenge the value belongs to still completes.
    expect((await confirmEnrolment(server, first.mfaToken, first.secret)).status).toBe(200);
  });

  it('a clear one left from before the key is still read: that enrolment completes', async () => {
    const challenge = await startEnrolment(server, gus);
    await server.stop({ keepData: true });
    const old = readToken(dataDir, challenge.mfaToken);
    old.pendingSecret = challenge.secret;
    await writeFile(tokenPath(dataDir, challenge.mfaToken), seal(JSON.stringify(old)));
    server = await startServer({ dataDir, env: FAST });
    expect((await confirmEnrolment(server, challenge.mfaToken, challenge.secret)).status).toBe(200);
  });
});
