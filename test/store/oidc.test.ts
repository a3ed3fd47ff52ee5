/** The OpenID Connect store contract on the lowdb store (real files in a temp directory). */
import type { LowdbStore } from '../../server/store/lowdb';
import type { Store } from '../../server/store/types';
import { oidcStoreContract } from './oidc-contract';
import { openStore, tempDir } from './store-fixtures';

const dirs = new WeakMap<Store, string>();

oidcStoreContract('lowdb', {
  async open() {
    const dir = await tempDir();
    const store = await openStore(dir);
    dirs.set(store, dir);
    return store;
  },
  async reopen(store) {
    const dir = dirs.get(store) as string;
    await (store as LowdbStore).close();
    const again = await openStore(dir);
    dirs.set(again, dir);
    return again;
  },
  files: (store) => dirs.get(store) ?? null,
});
