/**
 * Fills a lowdb data directory with many users quickly, by writing the store's files directly
 * (policy.json, index.json, users/<id>.json) instead of going through createUser: filling is setup,
 * not what is measured, so it skips the per-file fsyncs and any hashing. The store then opens the
 * directory as it would any other, which checks the files. ./build-postgres.ts fills a PostgreSQL
 * database with the same records.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, parseStorageKey } from '../server/crypto/sealing';
import { newTotpSecret } from '../server/crypto/totp';
import { KEY_CHECK_FILE } from '../server/store/lowdb/key-check';
import { type IndexFile, OPEN_LOCKOUT } from '../server/store/records';
import type { UserRecord } from '../server/store/types';
import type { Policy } from '../shared/api';
import { eachLimit } from './accounts';

export const BENCH_POLICY: Policy = {
  mfaUsage: 'optional_per_user',
  backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 },
};

/**
 * The storage key the benchmark's stores are sealed under and its servers run with: stores built
 * already sealed, so a server's first start has no clear value to seal (and PostgreSQL requires a key).
 */
export const BENCH_STORAGE_KEY = 'YmVuY2htYXJrIHN0b3JhZ2Uga2V5OyBuZXZlciBhIHJlYWwgb25lIQ==';
export const BENCH_STORAGE_KEYS = { current: parseStorageKey(BENCH_STORAGE_KEY), previous: null };

export interface BuiltUser {
  id: string;
  username: string;
  secret: string;
}

export interface BuildOptions {
  users: number;
  /** A PHC string every user gets as password hash (verification still costs a full argon2id). */
  passwordHash?: string;
  /** Backup codes per user, with random digests (no code is ever checked against them). */
  codes?: number;
}

/** The users a benchmark store holds, as records: what both stores are filled with. */
export function benchRecords(options: BuildOptions): { users: BuiltUser[]; records: UserRecord[] } {
  const createdAt = new Date().toISOString();
  const users: BuiltUser[] = Array.from({ length: options.users }, (_, i) => ({
    id: randomUUID(),
    username: `user${i}`,
    secret: newTotpSecret(),
  }));
  const codes = options.codes ?? 10;
  const records = users.map(
    (user): UserRecord => ({
      id: user.id,
      username: user.username,
      role: 'user',
      passwordHash: options.passwordHash ?? 'unused',
      createdAt,
      mfa: { type: 'totp', secret: user.secret, enrolled: true, configureLater: false, lastStep: null },
      backupCodes: {
        id: randomUUID(),
        salt: randomBytes(16).toString('base64'),
        generatedAt: createdAt,
        codes: Array.from({ length: codes }, (_, n) => ({
          number: n + 1,
          digest: randomBytes(32).toString('base64'),
          usedAt: null,
        })),
      },
      passwordLockout: OPEN_LOCKOUT,
      mfaLockout: OPEN_LOCKOUT,
    }),
  );
  return { users, records };
}

export async function buildStore(options: BuildOptions): Promise<{ dataDir: string; users: BuiltUser[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-bench-store-'));
  for (const dir of ['users', 'tokens', 'ip-failures']) await mkdir(join(dataDir, dir), { mode: 0o700 });
  await writeFile(join(dataDir, 'policy.json'), JSON.stringify(BENCH_POLICY), { mode: 0o600 });
  const { users, records } = benchRecords(options);
  const keyring = new Keyring([BENCH_STORAGE_KEYS.current]);
  const keyId = BENCH_STORAGE_KEYS.current.id;
  await eachLimit(records, 64, async (record) => {
    const secret = record.mfa.secret && keyring.seal(keyId, 'totp-secret', record.id, record.mfa.secret);
    const stored = { ...record, mfa: { ...record.mfa, secret } };
    await writeFile(join(dataDir, 'users', `${record.id}.json`), JSON.stringify(stored), { mode: 0o600 });
  });
  const check = { keyId, previousKeyId: null, previousKey: null, complete: true };
  await writeFile(join(dataDir, KEY_CHECK_FILE), JSON.stringify(check), { mode: 0o600 });
  const index: IndexFile = {
    version: 1,
    users: users.map((u) => ({
      id: u.id,
      username: u.username,
      key: u.username.toLowerCase(),
      role: 'user',
    })),
  };
  await writeFile(join(dataDir, 'index.json'), JSON.stringify(index), { mode: 0o600 });
  return { dataDir, users };
}
