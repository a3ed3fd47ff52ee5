/**
 * `npm start`: configuration from the environment, the store (lowdb, or PostgreSQL with DATABASE_URL),
 * argon2id, a graceful SIGTERM, and SIGHUP reloading the TLS certificate and key.
 */

import { existsSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { join, resolve } from 'node:path';
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { createApp } from './app';
import { boundUrl, ConfigError, loadConfig } from './config';
import { effectiveSettings } from './config-summary';
import { serveControl } from './control';
import { defaultHashConcurrency, HashQueue } from './crypto/hash-queue';
import { argon2Hasher } from './crypto/hasher';
import { type Deps, systemClock } from './deps';
import type { Lifecycle } from './http/health';
import { forSignIn } from './http/overload';
import { SERVER_TIMEOUTS } from './http/timeouts';
import { jsonLogger, type ProcessLogger } from './log';
import { serveMetrics } from './metrics/endpoint';
import { measuredStore } from './metrics/measured-store';
import { createMetrics, type Metrics } from './metrics/metrics';
import { prepareSignIn } from './services/auth';
import { preparePasswordRules } from './services/password-rules';
import { bootstrapAdmin } from './services/users';
import { checkDataDir, listenOn } from './startup';
import { checkStorageKeySetting, generatedKeyNotice, storageKeysFor } from './storage-key';
import { LowdbStore } from './store/lowdb';
import { writeSecretFile } from './store/secret-file';
import { StorageKeyError } from './store/secrets';
import { storeFor } from './store/select';
import type { Store } from './store/types';
import { readTlsFiles, tlsReloader } from './tls';

/** At LOG_LEVEL once the configuration is read; before that (a bad setting) its default. */
let log: ProcessLogger = jsonLogger();

/**
 * After a restart: the generated password's file still matters while its admin has not changed it;
 * once they have (the server stopped before it could delete the file), it is removed now.
 */
async function pendingInitialPassword(store: Store, file: string): Promise<Deps['initialPassword']> {
  if (!existsSync(file)) return undefined;
  const admin = await store.findUserByUsername('admin');
  if (admin?.mustChangePassword) return { userId: admin.id, file };
  await unlink(file).catch(() => undefined);
  return undefined;
}

async function main() {
  const config = loadConfig();
  log = jsonLogger(undefined, config.logLevel);
  log.debug('settings', Object.fromEntries(effectiveSettings(config)));
  for (const warning of config.warnings) log.warn('insecure setting', { warning });
  const dataDir = resolve(config.dataDir);
  // Every check before anything is written: a bad setting must not leave a created admin behind.
  await checkDataDir(dataDir);
  checkStorageKeySetting(config);
  const tlsFiles = config.tls ? readTlsFiles(config.tls).credentials : null;
  // The port is bound first; until the app is ready a request is told to come back.
  // The Node bindings (env) go through too: the OpenID Connect bridge hands the request to oidc-provider.
  let handle: (request: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response> = () =>
    Response.json(
      { error: { code: 'unavailable', message: 'The server is starting. Try again in a moment.' } },
      { status: 503, headers: { 'Retry-After': '1' } },
    );
  const server = createAdaptorServer({
    fetch: (request, env) => handle(request, env),
    hostname: config.host,
    ...(tlsFiles
      ? { createServer: createHttpsServer, serverOptions: { ...SERVER_TIMEOUTS, ...tlsFiles } }
      : { serverOptions: SERVER_TIMEOUTS }),
  });
  // SIGHUP (`systemctl reload`, a certbot deploy hook): the renewed certificate and key for new
  // handshakes; open connections keep theirs. Without a handler the signal would end the process.
  process.on('SIGHUP', tlsReloader(tlsFiles ? (server as HttpsServer) : null, config.tls, log));
  const bound = await listenOn(server, config.host, config.port);
  const url = boundUrl(config, bound.address, bound.port);
  // Without PUBLIC_URL the public address is the bound one, whose port PORT=0 only now reveals.
  if (!config.publicUrl) config.security.publicUrl = url;
  const storageKeys = await storageKeysFor(config, dataDir);
  const selected = storeFor(config, storageKeys.keys);
  const kind = selected.kind;
  let metrics: Metrics | null = null;
  const hashQueue = new HashQueue(argon2Hasher(config.argon2), {
    concurrency: defaultHashConcurrency(),
    maxWaitMs: config.hashQueueMaxWaitMs,
    onHashed: (operation, seconds) => metrics?.hashed(operation, seconds),
    onShed: (held) => metrics?.shed(held),
  });
  // Without METRICS_PORT nothing is measured: the store is used as it is.
  if (config.metrics) metrics = createMetrics({ store: selected.store, hashQueue });
  const store = metrics ? measuredStore(selected.store, metrics) : selected.store;
  // Bound before the store is opened or an admin created: a taken port must leave nothing behind.
  // A scrape before the store is open gets 503, as the public port answers while starting.
  let metricsServer: Server | null = null;
  if (metrics && config.metrics) {
    const listening = await serveMetrics(metrics.registry, config.metrics, log).catch((error: Error) => {
      throw new ConfigError(
        `The metrics port cannot be opened (METRICS_HOST, METRICS_PORT): ${error.message}`,
      );
    });
    metricsServer = listening.server;
    const { address, port } = listening.address;
    log.info('metrics listening', { url: `${boundUrl({ tls: null }, address, port)}/metrics` });
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // Printed once to the operator's terminal, like the generated admin password; never the key itself.
  if (storageKeys.writeGenerated)
    process.stderr.write(generatedKeyNotice(await storageKeys.writeGenerated()));
  await store.open();
  const lifecycle: Lifecycle = { phase: 'starting' };
  const deps: Deps = {
    store,
    hasher: hashQueue.hasher,
    signInGate: hashQueue,
    clock: systemClock,
    security: config.security,
    lifecycle,
    extensionDir: config.extensionDir,
  };

  const bootstrap = await bootstrapAdmin(deps, config.bootstrapAdminPassword);
  const initialPasswordFile = join(dataDir, 'initial-admin-password');
  if (bootstrap.generatedPassword && bootstrap.adminId) {
    await writeSecretFile(initialPasswordFile, `${bootstrap.generatedPassword}\n`);
    deps.initialPassword = { userId: bootstrap.adminId, file: initialPasswordFile };
    // Printed once to the operator's terminal, deliberately outside the JSON log stream.
    process.stderr.write(
      `\nCreated the account "admin". Its password (also in ${initialPasswordFile}, mode 0600) must be changed at the first sign-in:\n\n    ${bootstrap.generatedPassword}\n\n`,
    );
  } else if (bootstrap.created) {
    log.info('created admin account', { username: 'admin', passwordFrom: 'BOOTSTRAP_ADMIN_PASSWORD' });
  } else {
    deps.initialPassword = await pendingInitialPassword(store, initialPasswordFile);
  }

  // The dummy hash is kept per hasher: the one sign-ins use (http/overload.ts forSignIn).
  await prepareSignIn(forSignIn(deps));
  preparePasswordRules();
  // For `npm run store:backup` while this server runs (lowdb: a separate process cannot copy it consistently).
  const closeControl =
    selected.store instanceof LowdbStore ? await serveControl(selected.store, dataDir, log) : undefined;
  const app = createApp(deps, log);
  handle = app.fetch;

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // /healthz/ready answers 503 from now on to whoever still has a connection open.
    lifecycle.phase = 'draining';
    log.info('shutting down', { signal });
    metricsServer?.close();
    // close() stops accepting and lets in-flight requests finish; then the store is closed cleanly.
    server.close(async () => {
      await closeControl?.();
      await store.close();
      log.info('stopped');
      process.exit(0);
    });
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  };
  // Before 'listening' is said: whoever waits for that line may stop the server at once.
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  lifecycle.phase = 'serving';
  log.info('listening', { url, publicUrl: deps.security.publicUrl, store: kind, dataDir });
}

main().catch((error: unknown) => {
  // Errors the operator can act on are one line: a bad setting, an unreachable or too new database.
  const message =
    error instanceof ConfigError || error instanceof StorageKeyError ? error.message : String(error);
  log.error('cannot start', { error: message });
  process.exit(1);
});
