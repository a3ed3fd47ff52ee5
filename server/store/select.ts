/** Which store this instance runs: PostgreSQL when DATABASE_URL is set, lowdb in DATA_DIR otherwise. */
import { resolve } from 'node:path';
import type { Config } from '../config';
import { LowdbStore } from './lowdb';
import { PostgresStore } from './postgres';
import type { Store } from './types';

export function storeFor(config: Pick<Config, 'database' | 'dataDir' | 'audit'>): {
  store: Store;
  kind: string;
} {
  return config.database
    ? { store: new PostgresStore(config.database), kind: 'postgres' }
    : {
        store: new LowdbStore(resolve(config.dataDir), { verifyUsersOnOpen: true, audit: config.audit }),
        kind: 'lowdb',
      };
}
