/**
 * Backup while the real server serves a sign-in load, then restore into an empty DATA_DIR and
 * compare: the same accounts; codes spent before the backup began are refused, codes never spent
 * work, and a code spent while the backup ran is either spent in the restore or not, never more.
 * And the OpenID Connect side: a registered application and the signing keys survive the round trip.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { archive, type BackupItem, writeArchive } from '../../server/store/backup';
import { makeUser } from '../store/store-fixtures';
import { runCli } from '../support/cli';
import { HttpBrowser } from '../support/http-browser';
import { verifiesAgainst } from '../support/jws';
import { adminToken, registerApp } from '../support/oidc-users';
import { startRelyingParty } from '../support/relying-party';
import { call, freePort, type RunningServer, startServer } from '../support/server';

const running: RunningServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop({ keepData: true });
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** The source store's generated storage key: a restore opens the archive's sealed secrets with it. */
const keyOf = (dataDir: string) => ({ STORAGE_ENCRYPTION_KEY_FILE: join(dataDir, 'storage.key') });

async function start(dataDir: string, env: Record<string, string> = {}) {
  const server = await startServer({ dataDir, env });
  running.push(server);
  return server;
}

interface Person {
  username: string;
  password: string;
  codes: string[];
}

const USERS = 4;
const CODES = 10;

async function login(url: string, person: Person) {
  const res = await call(url, 'POST', '/api/auth/login', {
    body: { username: person.username, password: person.password },
  });
  expect(res.body.status).toBe('mfa_required');
  return res.body.mfaToken as string;
}

/** Signs in with backup code `number` (1-based); resolves with the HTTP status. */
async function useCode(url: string, person: Person, number: number) {
  const res = await call(url, 'POST', '/api/auth/mfa', {
    body: { mfaToken: await login(url, person), method: 'backup_code', code: person.codes[number - 1] },
  });
  return { status: res.status, token: res.body?.token as string | undefined };
}

it('backs up during a sign-in load; the restore has the same accounts and exactly the spends it should', async () => {
  const dataDir = await tempDir('sparekey-backup-src-');
  const server = await start(dataDir);
  const adminLogin = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  const admin = adminLogin.body.token as string;
  await call(server.url, 'PUT', '/api/admin/policy', {
    token: admin,
    body: {
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: true, count: CODES, warnWhenRemaining: 2 },
    },
  });
  const people: Person[] = [];
  for (let i = 0; i < USERS; i++) {
    const person: Person = { username: `user${i}`, password: `user${i}-password`, codes: [] };
    const created = await call(server.url, 'POST', '/api/admin/users', {
      token: admin,
      body: { username: person.username, password: person.password },
    });
    const patched = await call(server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
      token: admin,
      body: { mfa: { type: 'totp' } },
    });
    const signedIn = await call(server.url, 'POST', '/api/auth/mfa', {
      body: {
        mfaToken: await login(server.url, person),
        method: 'totp',
        code: currentTotp(patched.body.totp.secret, Date.now()),
      },
    });
    const generated = await call(server.url, 'POST', '/api/me/backup-codes', {
      token: signedIn.body.token,
      body: { password: person.password },
    });
    expect(generated.status).toBe(201);
    person.codes = (generated.body.codes as { code: string }[]).map((c) => c.code);
    people.push(person);
  }
  // Code 1 of everyone is spent before the backup: the restore must refuse it.
  for (const person of people) expect((await useCode(server.url, person, 1)).status).toBe(200);

  // The load: everyone signs in with their next code, back to back, while the backup runs.
  const spends = people.map(
    () => [] as Array<{ number: number; startedAt: number; doneAt: number; status: number }>,
  );
  let backupDone = false;
  const load = people.map(async (person, i) => {
    for (let number = 2; number < CODES && !backupDone; number++) {
      const startedAt = performance.now();
      const { status } = await useCode(server.url, person, number);
      spends[i]?.push({ number, startedAt, doneAt: performance.now(), status });
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const archive = join(await tempDir('sparekey-backup-file-'), 'sparekey.backup');
  const backupStartedAt = performance.now();
  const backup = await runCli('store-backup', ['--to', archive, '--unencrypted'], {
    env: { DATA_DIR: dataDir },
  });
  const backupEndedAt = performance.now();
  backupDone = true;
  await Promise.all(load);
  expect(backup.stderr).toBe('');
  expect(backup.code).toBe(0);
  expect(backup.stdout).toMatch(
    new RegExp(
      `Backed up ${USERS + 1} account\\(s\\) and \\d+ audit event\\(s\\) .* from the running server \\(pid ${server.process.pid}\\)`,
    ),
  );
  for (const list of spends) for (const spend of list) expect(spend.status).toBe(200);
  // The load really overlapped the backup.
  expect(spends.flat().some((s) => s.startedAt < backupEndedAt && s.doneAt > backupStartedAt)).toBe(true);
  const adminView = await call(server.url, 'GET', '/api/admin/users', { token: admin });
  await server.stop({ keepData: true });
  running.splice(0);

  // A restore refuses a DATA_DIR that is not empty, and an archive cut short.
  const busy = await runCli('store-restore', ['--from', archive, '--to', dataDir]);
  expect(busy.code).toBe(1);
  expect(busy.stderr).toMatch(/is not empty/);
  const cut = join(await tempDir('sparekey-backup-cut-'), 'cut.backup');
  const bytes = await readFile(archive);
  await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.8)));
  const cutRestore = await runCli(
    'store-restore',
    ['--from', cut, '--to', await tempDir('sparekey-never-')],
    {
      env: keyOf(dataDir),
    },
  );
  expect(cutRestore.code).toBe(1);
  expect(cutRestore.stderr).toMatch(/not a complete SpareKey backup/);

  const restoredDir = join(await tempDir('sparekey-backup-dst-'), 'data');
  const restore = await runCli('store-restore', ['--from', archive, '--to', restoredDir], {
    env: keyOf(dataDir),
  });
  expect(restore.stderr).toBe('');
  expect(restore.code).toBe(0);
  expect(restore.stdout).toMatch(new RegExp(`Restored ${USERS + 1} account\\(s\\) .* verified`));

  const restored = await start(restoredDir, keyOf(dataDir));
  const adminAgain = await call(restored.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  const users = await call(restored.url, 'GET', '/api/admin/users', { token: adminAgain.body.token });
  expect(users.body.users.map((u: { id: string; username: string }) => [u.id, u.username])).toEqual(
    adminView.body.users.map((u: { id: string; username: string }) => [u.id, u.username]),
  );
  for (const [i, person] of people.entries()) {
    const list = spends[i] ?? [];
    const spentBefore = [1, ...list.filter((s) => s.doneAt < backupStartedAt).map((s) => s.number)];
    const startedBeforeEnd = new Set([
      1,
      ...list.filter((s) => s.startedAt < backupEndedAt).map((s) => s.number),
    ]);
    // Code 10 was never used: it works, and opens a session to read what the restore says is spent.
    const session = await useCode(restored.url, person, CODES);
    expect(session.status).toBe(200);
    const me = await call(restored.url, 'GET', '/api/me', { token: session.token });
    const used = (me.body.backupCodes.used as number[]).filter((n) => n !== CODES);
    for (const number of spentBefore) expect(used).toContain(number);
    for (const number of used) expect(startedBeforeEnd.has(number)).toBe(true);
    // A spent code in the restore is refused as spent (its digest came along: 409 code_already_used,
    // the security round's answer to a replayed code), whether or not the load left an unused code
    // after code 10; one it does not hold as spent works there once.
    const replayed = await call(restored.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: await login(restored.url, person), method: 'backup_code', code: person.codes[0] },
    });
    expect(replayed.status).toBe(409);
    expect(replayed.body.error.code).toBe('code_already_used');
    const unspent = list.find((s) => !used.includes(s.number));
    if (unspent) expect((await useCode(restored.url, person, unspent.number)).status).toBe(200);
  }
}, 180_000);

it('restores the OpenID Connect applications and keys: the old secret still works, tokens signed before still verify', async () => {
  const dataDir = await tempDir('sparekey-backup-oidc-src-');
  // One port for both servers: the issuer (and so every token's iss) is the server's address.
  const env = { PORT: String(await freePort()) };
  const server = await start(dataDir, env);
  const rp = await startRelyingParty({ issuer: server.url });
  try {
    const admin = await adminToken(server);
    const { clientId } = (await registerApp(server, admin, rp, 'confidential', 'Kept')).application;

    // The admin signs in at the application (a confidential client: the code exchange needs the secret).
    const signIn = async () => {
      const browser = new HttpBrowser();
      const login = await browser.navigate(`${rp.url}/login`);
      const back = await browser.submit(login, { username: 'admin', password: server.adminPassword });
      expect(back.body).toContain('Signed in as <strong>admin</strong>');
      return rp.last as NonNullable<typeof rp.last>;
    };
    const before = await signIn();
    const jwksBefore = await (await fetch(`${server.url}/oidc/jwks`)).json();

    const archive = join(await tempDir('sparekey-backup-oidc-file-'), 'sparekey.backup');
    const backup = await runCli('store-backup', ['--to', archive, '--unencrypted'], {
      env: { DATA_DIR: dataDir },
    });
    expect(backup.stderr).toBe('');
    expect(backup.stdout).toMatch(
      /with 1 OpenID Connect application\(s\) and the signing keys .* from the running server/,
    );
    await server.stop({ keepData: true });
    running.splice(0);

    const restoredDir = join(await tempDir('sparekey-backup-oidc-dst-'), 'data');
    const restore = await runCli('store-restore', ['--from', archive, '--to', restoredDir], {
      env: keyOf(dataDir),
    });
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(restore.stdout).toMatch(
      /with 1 OpenID Connect application\(s\) and the signing keys into .* verified/,
    );

    const restored = await start(restoredDir, { ...env, ...keyOf(dataDir) });
    expect(restored.url).toBe(server.url);
    // The same keys are published, so the ID token signed before the backup verifies against them.
    const jwks = await (await fetch(`${restored.url}/oidc/jwks`)).json();
    expect(jwks).toEqual(jwksBefore);
    expect(verifiesAgainst(before.idToken, jwks.keys)).toBe(true);
    // The provider's records were not restored: the old access token is no longer accepted.
    const userinfo = await fetch(`${restored.url}/oidc/me`, {
      headers: { authorization: `Bearer ${before.accessToken}` },
    });
    expect(userinfo.status).toBe(401);
    // The application signs its user in again with its old client id and secret.
    const after = await signIn();
    expect(after.claims.aud).toBe(clientId);
    expect(after.idToken).not.toBe(before.idToken);
    expect(verifiesAgainst(after.idToken, jwks.keys)).toBe(true);
  } finally {
    await rp.close();
  }
}, 120_000);

it('a restore that fails after the archive was checked leaves DATA_DIR as it was: nothing half written, nothing beside it', async () => {
  // An intact archive (its checksum and counts hold) whose last account takes a name already
  // restored: the import fails only once most accounts are written.
  async function* items(): AsyncGenerator<BackupItem> {
    for (let i = 0; i < 300; i++) yield { kind: 'user', user: makeUser(`user${i}`) };
    yield { kind: 'user', user: makeUser('user0') };
  }
  const path = join(await tempDir('sparekey-restore-late-'), 'late.backup');
  await writeArchive(archive(items()), path);
  const parent = await tempDir('sparekey-restore-into-');
  const dataDir = join(parent, 'data');

  const failed = await runCli('store-restore', ['--from', path, '--to', dataDir]);
  expect(failed.code).toBe(1);
  expect(failed.stdout).toBe('');
  expect(failed.stderr).toMatch(/^The restore failed: .*\(.*data is left as it was\)\.\n$/);
  expect(existsSync(dataDir)).toBe(false);
  expect(await readdir(parent)).toEqual([]);

  // Into an empty DATA_DIR that already exists, likewise: it stays empty.
  await mkdtemp(join(parent, 'empty-'));
  const [empty] = await readdir(parent);
  const again = await runCli('store-restore', ['--from', path, '--to', join(parent, empty as string)]);
  expect(again.code).toBe(1);
  expect(await readdir(join(parent, empty as string))).toEqual([]);
  expect(await readdir(parent)).toEqual([empty]);
}, 60_000);
