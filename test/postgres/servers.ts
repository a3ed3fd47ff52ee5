/** What the PostgreSQL server tests start servers with. */
import { parseStorageKey } from '../../server/crypto/sealing';
import type { StorageKeys } from '../../server/store/secrets';

/** Cheap argon2id: these tests are about the store, not the hash's cost. */
export const FAST_ARGON2 = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

/** The storage key every test instance shares (required with DATABASE_URL); never a real one. */
export const STORAGE_KEY_ENV = { STORAGE_ENCRYPTION_KEY: 'c3BhcmVrZXkgdGVzdCBzdG9yYWdlIGtleSwgbm90IHJlYWw=' };

/** The same key, for a PostgresStore a test opens itself beside the servers. */
export const TEST_STORAGE_KEYS: StorageKeys = {
  current: parseStorageKey(STORAGE_KEY_ENV.STORAGE_ENCRYPTION_KEY),
  previous: null,
};

/** The environment of a server on `databaseUrl`. */
export function postgresEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, ...FAST_ARGON2, ...STORAGE_KEY_ENV, ...extra };
}
