/**
 * `npm run keys:rotate [-- --revoke-previous]`: a new OpenID Connect signing key and a new cookie
 * secret take over, in the store the server's configuration selects (PostgreSQL with DATABASE_URL,
 * lowdb in DATA_DIR otherwise; server/store/select.ts). The previous key stays in the JWKS until the
 * tokens it signed expired (server/oidc/keys.ts); `--revoke-previous`, for a compromised key, drops it
 * and the previous cookie secrets at once. Every running instance reads the new set within
 * OIDC_KEY_REFRESH_SECONDS (server/oidc/provider.ts). The lowdb store allows one process per data
 * directory, so with it this runs while the server is stopped.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fail, parseCommand, run } from './cli/args';
import { loadConfig } from './config';
import { rotateSigningKey } from './oidc/keys';
import { openingKeys } from './storage-key';
import { DirectoryInUseError } from './store/lowdb/dir-lock';
import { storeFor } from './store/select';

const USAGE = `usage: sparekey keys rotate [--revoke-previous]   (npm run keys:rotate [-- --revoke-previous])

  --revoke-previous   the previous keys are compromised: stop publishing them now (tokens they signed
                      stop verifying) and drop the previous cookie secrets`;

run(async () => {
  const args = parseCommand(USAGE, { 'revoke-previous': { type: 'boolean', default: false } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig();
  if (!config.database) {
    const dataDir = resolve(config.dataDir);
    // Opening would create an empty store whose new key no server reads.
    if (!statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
      fail(`There is no store at ${dataDir}: set DATA_DIR to the server's data directory (or DATABASE_URL).`);
    }
  }
  const { store, kind } = storeFor(config, await openingKeys(config));
  try {
    await store.open();
  } catch (error) {
    if (error instanceof DirectoryInUseError) {
      fail(
        `${error.message} Stop the server first: with the lowdb store only one process may change the data.`,
      );
    }
    throw error;
  }
  try {
    const revokePrevious = args['revoke-previous'] === true;
    const keys = await rotateSigningKey(store, { revokePrevious });
    const [current, ...previous] = keys.signing;
    const refresh = config.security.oidcKeyRefreshMs / 1000;
    process.stdout.write(
      `Signing key ${current?.kid} now signs (${kind} store); ` +
        (revokePrevious
          ? 'the previous keys and cookie secrets are revoked.'
          : `still published: ${previous.map((k) => k.kid).join(', ') || 'none'}.`) +
        (kind === 'postgres'
          ? ` Running instances serve the new key set within ${refresh} s (OIDC_KEY_REFRESH_SECONDS).\n`
          : ' Start the server to serve it.\n'),
    );
  } finally {
    await store.close();
  }
  return 0;
});
