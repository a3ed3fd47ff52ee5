/**
 * Over the real server (`node server/main.ts`) and the real commands: a user file damaged while the
 * server was down answers 503 for that account only once it is back, /healthz says degraded,
 * `npm run store:check` lists it, `--repair` refuses while the server runs and quarantines the file
 * once it is stopped, and the server then starts clean.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runCli } from '../support/cli';
import { call, type RunningServer, startServer } from '../support/server';

const running: RunningServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop({ keepData: true });
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function start(dataDir: string) {
  const server = await startServer({ dataDir });
  running.push(server);
  return server;
}

async function stop(server: RunningServer) {
  running.splice(running.indexOf(server), 1);
  expect(await server.stop({ keepData: true })).toBe(0);
}

async function adminToken(server: RunningServer) {
  const login = await call(server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: server.adminPassword },
  });
  expect(login.body.status).toBe('ok');
  return login.body.token as string;
}

it('a flipped byte in one user file: 503 for that account, degraded /healthz, store:check and --repair', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-damage-http-'));
  dirs.push(dataDir);
  const first = await start(dataDir);
  const admin = await adminToken(first);
  const created = await call(first.url, 'POST', '/api/admin/users', {
    token: admin,
    body: { username: 'bob', password: 'bob-password' },
  });
  expect(created.status).toBe(201);
  const bobId = created.body.user.id as string;
  await stop(first);

  const bobFile = join(dataDir, 'users', `${bobId}.json`);
  const bytes = await readFile(bobFile);
  const at = bytes.indexOf('$argon2id$') + 20;
  bytes[at] = (bytes[at] as number) ^ 0x02;
  await writeFile(bobFile, bytes);

  const second = await start(dataDir);
  await expect
    .poll(async () => (await call(second.url, 'GET', '/healthz')).body)
    .toEqual({
      status: 'degraded',
      damagedAccounts: 1,
    });
  const bob = await call(second.url, 'POST', '/api/auth/login', {
    body: { username: 'bob', password: 'bob-password' },
  });
  expect(bob.status).toBe(503);
  expect(bob.body.error.code).toBe('account_damaged');
  const token = await adminToken(second);
  const users = await call(second.url, 'GET', '/api/admin/users', { token });
  expect(users.body.damaged).toEqual([
    { id: bobId, username: 'bob', role: 'user', reason: 'checksum mismatch' },
  ]);

  const env = { DATA_DIR: dataDir };
  const check = await runCli('store-check', [], { env });
  expect(check.code).toBe(1);
  expect(check.stdout).toContain(`user_damaged  users/${bobId}.json: account bob: checksum mismatch`);
  const refused = await runCli('store-check', ['--repair'], { env });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`in use by process ${second.process.pid}`);
  expect(await readFile(bobFile)).toEqual(bytes);
  await stop(second);

  const repair = await runCli('store-check', ['--repair'], { env });
  expect(repair.stderr).toBe('');
  expect(repair.code).toBe(0);
  expect(repair.stdout).toMatch(/Moved 1 file\(s\) to quarantine\/[^/]+\/:/);
  const [stamp] = await readdir(join(dataDir, 'quarantine'));
  expect(await readFile(join(dataDir, 'quarantine', stamp as string, 'users', `${bobId}.json`))).toEqual(
    bytes,
  );
  expect((await runCli('store-check', ['--json'], { env })).code).toBe(0);

  const third = await start(dataDir);
  expect((await call(third.url, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
  const again = await call(third.url, 'POST', '/api/admin/users', {
    token: await adminToken(third),
    body: { username: 'bob', password: 'bob-password' },
  });
  expect(again.status).toBe(201);
}, 120_000);

it('a damaged OpenID Connect key set: 503 store_damaged on the provider (never 500, never new keys), SpareKey sign-in works, store:check says how to restore', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-keys-damage-'));
  dirs.push(dataDir);
  let server = await start(dataDir);
  const jwks = await (await fetch(`${server.url}/oidc/jwks`)).json();
  await stop(server);
  const keysFile = join(dataDir, 'oidc', 'keys.json');
  const good = await readFile(keysFile);
  await writeFile(keysFile, good.subarray(0, good.length - 7));

  server = await start(dataDir);
  for (const path of ['/oidc/jwks', '/.well-known/openid-configuration']) {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status, path).toBe(503);
    expect((await res.json()).error.code).toBe('store_damaged');
  }
  // The rest of the server works: the admin signs in.
  await adminToken(server);
  const check = await runCli('store-check', [], { env: { DATA_DIR: dataDir } });
  expect(check.code).toBe(1);
  expect(check.stdout).toMatch(/oidc_keys_damaged {2}oidc\/keys.json/);
  await stop(server);

  // Copied back (as from a restored backup): the same keys are published again.
  await writeFile(keysFile, good);
  server = await start(dataDir);
  expect(await (await fetch(`${server.url}/oidc/jwks`)).json()).toEqual(jwks);
});
