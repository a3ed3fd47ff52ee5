/**
 * The control socket: a Unix socket in DATA_DIR through which the store commands reach a running
 * server (`npm run store:backup` while it serves). Only who can enter DATA_DIR (0700) can connect,
 * which is exactly who could read the store's files: the socket grants nothing the files do not.
 * It carries HTTP; one route: GET /backup streams a backup archive (./store/backup.ts).
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from './log';
import { archive } from './store/backup';
import type { LowdbStore } from './store/lowdb';

export const CONTROL_SOCKET = 'control.sock';
/** Linux's limit on a socket path (sun_path), terminator included. */
const MAX_SOCKET_PATH = 107;

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET);
}

/** Listens on DATA_DIR/control.sock; resolves with a function that closes it, or null if the path is too long. */
export async function serveControl(
  store: LowdbStore,
  dataDir: string,
  log: Logger,
): Promise<(() => Promise<void>) | null> {
  const path = controlSocketPath(dataDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    log.error('control socket not started: DATA_DIR path too long for a Unix socket', { path });
    return null;
  }
  // The store holds DATA_DIR's lock, so a socket file left here is a dead server's.
  await rm(path, { force: true });
  const server: Server = createServer(async (request, response) => {
    if (request.method !== 'GET' || request.url !== '/backup') {
      response.writeHead(404).end();
      return;
    }
    const started = performance.now();
    response.writeHead(200, { 'content-type': 'application/gzip' });
    try {
      await pipeline(Readable.from(archive(store.exportBackup())), response);
      log.info('backup streamed', { ms: Math.round(performance.now() - started) });
    } catch (error) {
      log.error('backup failed', { error: String(error) });
      response.destroy();
    }
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(path, () => done());
  });
  await chmod(path, 0o600);
  return async () => {
    await new Promise<void>((done) => server.close(() => done()));
    await rm(path, { force: true });
  };
}
