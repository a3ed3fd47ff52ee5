/** Which store this instance runs: PostgreSQL when DATABASE_URL is set, lowdb in DATA_DIR otherwise. */
import { resolve } from 'node:path';
import type { Config } from '../config';
import { LowdbStore } from './lowdb';
import { PostgresStore } from './postgres';
import type { StorageKeys } from './secrets';
import type { Store } from './types';

/** `keys`: from server/storage-key.ts `storageKeysFor`, which every opener resolves first. */
export function storeFor(
  config: Pick<Config, 'database' | 'dataDir' | 'audit'>,
  keys: StorageKeys,
): {
  store: Store;
  kind: string;
} {
  return config.database
    ? { store: new PostgresStore({ ...config.database, storageKeys: keys }), kind: 'postgres' }
    : {
        store: new LowdbStore(resolve(config.dataDir), {
          verifyUsersOnOpen: true,
          audit: config.audit,
          storageKeys: keys,
        }),
        kind: 'lowdb',
      };
}
