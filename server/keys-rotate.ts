/**
 * `npm run keys:rotate`: a new OpenID Connect signing key takes over; the previous one stays in the
 * JWKS until the tokens it signed expired (server/oidc/keys.ts). Every instance picks the new set up
 * from the store within a minute. The lowdb store allows one process per data directory, so with it
 * this runs while the server is stopped.
 */
import { resolve } from 'node:path';
import { loadConfig } from './config';
import { rotateSigningKey } from './oidc/keys';
import { LowdbStore } from './store/lowdb';

async function main() {
  const config = loadConfig();
  const store = new LowdbStore(resolve(config.dataDir));
  try {
    await store.open();
  } catch (error) {
    process.stderr.write(
      `Cannot open the store in ${config.dataDir}: ${String(error)}\nWith lowdb, stop the server first (one process per data directory).\n`,
    );
    process.exit(1);
  }
  try {
    const keys = await rotateSigningKey(store);
    const [current, ...previous] = keys.signing;
    process.stdout.write(
      `Signing key ${current?.kid} now signs; still published: ${previous.map((k) => k.kid).join(', ') || 'none'}.\n`,
    );
  } finally {
    await store.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`keys:rotate failed: ${String(error)}\n`);
  process.exit(1);
});
