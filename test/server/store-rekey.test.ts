/**
 * `sparekey store rekey` on lowdb, as an operator runs it: refused while the server runs (one
 * process per DATA_DIR); with it stopped, every secret re-sealed under the new key, the generated
 * DATA_DIR/storage.key replaced by it, and the restarted server signs users in; the old key is
 * refused; an enrolment challenge sealed under the old key is dropped. (A power cut at every write: test/store/power-loss/rekey.test.ts.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminToken, createTotpUser, signInWithTotp } from '../../bench/accounts';
import { newStorageKey } from '../../server/crypto/sealing';
import { hashToken } from '../../server/crypto/tokens';
import { runScript } from '../support/cli';
import { type Credentials, confirmEnrolment, enrolmentUsers, startEnrolment } from '../support/enrolment';
import { runServerToExit, startServer } from '../support/server';

const FAST = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sparekey-store-rekey-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('rekeys a stopped lowdb store, replaces the generated key file, and the server serves with it', async () => {
  const dataDir = join(dir, 'data');
  let server = await startServer({ dataDir, env: FAST });
  const alice = await createTotpUser(server, await adminToken(server), 'alice');
  const oldKey = readFileSync(join(dataDir, 'storage.key'), 'utf8').trim();
  const next = newStorageKey();
  const keyFile = join(dir, 'new.key');
  await writeFile(keyFile, `${next.text()}\n`, { mode: 0o600 });
  const rekey = () =>
    runScript('server/cli/store-rekey.ts', ['--new-key-file', keyFile], {
      env: { DATA_DIR: dataDir, DATABASE_URL: '', STORAGE_ENCRYPTION_KEY: '' },
    });

  const whileRunning = await rekey();
  expect(whileRunning.code).toBe(1);
  expect(whileRunning.stderr).toMatch(
    /Stop the server first: the lowdb store is rekeyed with the server stopped\.\n$/,
  );
  expect(whileRunning.stderr.trim().split('\n')).toHaveLength(1);
  expect(readFileSync(join(dataDir, 'storage.key'), 'utf8').trim()).toBe(oldKey);

  await server.stop({ keepData: true });
  const done = await rekey();
  expect(done.stderr).toBe('');
  expect(done.code).toBe(0);
  expect(done.stdout).toMatch(
    new RegExp(`^Re-encrypted \\d+ stored file\\(s\\) under the key ${next.id} \\(lowdb`),
  );
  expect(readFileSync(join(dataDir, 'storage.key'), 'utf8').trim()).toBe(next.text());
  // Run again: nothing left to do, still fine.
  expect((await rekey()).code).toBe(0);

  const refused = await runServerToExit({ DATA_DIR: dataDir, STORAGE_ENCRYPTION_KEY: oldKey, ...FAST });
  expect(refused.code).toBe(1);
  expect(refused.output).toContain('"error":"the storage key does not match the store"');

  server = await startServer({ dataDir, env: FAST });
  try {
    expect(await signInWithTotp(server, alice)).toEqual(expect.any(String));
  } finally {
    await server.stop({ keepData: true });
  }
});

it('drops an enrolment challenge sealed under the old key: it counts as none, a new sign-in enrols', async () => {
  const dataDir = join(dir, 'pending');
  let server = await startServer({ dataDir, env: FAST });
  const [erin] = (await enrolmentUsers(server, 'erin')) as [Credentials];
  const pending = await startEnrolment(server, erin);
  await server.stop({ keepData: true });
  const next = newStorageKey();
  const keyFile = join(dir, 'pending.key');
  await writeFile(keyFile, `${next.text()}\n`, { mode: 0o600 });
  const rekey = await runScript('server/cli/store-rekey.ts', ['--new-key-file', keyFile], {
    env: { DATA_DIR: dataDir, DATABASE_URL: '', STORAGE_ENCRYPTION_KEY: '' },
  });
  expect(rekey.stderr).toBe('');
  expect(rekey.code).toBe(0);
  // Nothing left under the old key: the challenge's file is gone.
  expect(existsSync(join(dataDir, 'tokens', `${hashToken(pending.mfaToken)}.json`))).toBe(false);

  server = await startServer({ dataDir, env: FAST });
  try {
    const refused = await confirmEnrolment(server, pending.mfaToken, pending.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_mfa_token');
    const again = await startEnrolment(server, erin);
    expect((await confirmEnrolment(server, again.mfaToken, again.secret)).status).toBe(200);
  } finally {
    await server.stop({ keepData: true });
  }
});
