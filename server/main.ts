/** `npm start`: configuration from the environment, the lowdb store, argon2id, and a graceful SIGTERM. */

import { readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { createApp } from './app';
import { boundUrl, ConfigError, loadConfig } from './config';
import { serveControl } from './control';
import { argon2Hasher } from './crypto/hasher';
import { type Deps, systemClock } from './deps';
import { jsonLogger } from './log';
import { prepareSignIn } from './services/auth';
import { bootstrapAdmin } from './services/users';
import { LowdbStore } from './store/lowdb';

const log = jsonLogger();

async function main() {
  const config = loadConfig();
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const store = new LowdbStore(dataDir, { verifyUsersOnOpen: true, audit: config.audit });
  await store.open();
  const deps: Deps = {
    store,
    hasher: argon2Hasher(config.argon2),
    clock: systemClock,
    security: config.security,
  };

  const bootstrap = await bootstrapAdmin(deps, config.bootstrapAdminPassword);
  if (bootstrap.generatedPassword) {
    const file = join(dataDir, 'initial-admin-password');
    await writeFile(file, `${bootstrap.generatedPassword}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    // Printed once to the operator's terminal, deliberately outside the JSON log stream.
    process.stderr.write(
      `\nCreated the account "admin". Its password (also in ${file}, mode 0600):\n\n    ${bootstrap.generatedPassword}\n\n`,
    );
  } else if (bootstrap.created) {
    log.info('created admin account', { username: 'admin', passwordFrom: 'BOOTSTRAP_ADMIN_PASSWORD' });
  }

  await prepareSignIn(deps);
  // For `npm run store:backup` while this server runs.
  const closeControl = await serveControl(store, dataDir, log);
  const app = createApp(deps, log);
  const server = serve(
    {
      fetch: app.fetch,
      hostname: config.host,
      port: config.port,
      ...(config.tls
        ? {
            createServer: createHttpsServer,
            serverOptions: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
          }
        : {}),
    },
    (info) => {
      const url = boundUrl(config, info.address, info.port);
      // Without PUBLIC_URL the public address is the bound one, whose port PORT=0 only now reveals.
      if (!config.publicUrl) deps.security.publicUrl = url;
      log.info('listening', { url, publicUrl: deps.security.publicUrl, dataDir });
    },
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    // close() stops accepting and lets in-flight requests finish; then the store is closed cleanly.
    server.close(async () => {
      await closeControl?.();
      await store.close();
      log.info('stopped');
      process.exit(0);
    });
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : String(error);
  log.error('cannot start', { error: message });
  process.exit(1);
});
