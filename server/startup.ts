/**
 * The start-up checks `npm start` runs before it writes anything (the store, the first admin, its
 * password file): each failure is a ConfigError of one line naming the setting to fix, never a stack
 * trace after half a start.
 */
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ServerType } from '@hono/node-server';
import { ConfigError } from './config';
import { checkSecretTarget, UnsafeSecretTargetError } from './store/secret-file';

const reason = (error: unknown) => (error as NodeJS.ErrnoException).code ?? String(error);

/**
 * DATA_DIR is a directory (or does not exist yet: it is created once every check passed) that only
 * this user can write to, since the generated first admin password is written there.
 */
export async function checkDataDir(dataDir: string): Promise<void> {
  const found = await stat(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new ConfigError(`DATA_DIR ${dataDir} cannot be read: ${reason(error)}.`);
  });
  if (!found) return;
  if (!found.isDirectory()) throw new ConfigError(`DATA_DIR ${dataDir} is not a directory.`);
  try {
    await checkSecretTarget(join(dataDir, 'initial-admin-password'));
  } catch (error) {
    if (error instanceof UnsafeSecretTargetError) throw new ConfigError(`DATA_DIR: ${error.message}`);
    throw error;
  }
}

/** Binds the public port; refuses in one line naming HOST or PORT. */
export function listenOn(server: ServerType, host: string, port: number): Promise<AddressInfo> {
  return new Promise((listening, failed) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const messages: Record<string, string> = {
        EADDRINUSE: `PORT ${port} is already in use on ${host}.`,
        EACCES: `PORT ${port} on ${host} needs privileges this process does not have.`,
        EADDRNOTAVAIL: `HOST ${host} is not an address of this machine.`,
      };
      failed(
        new ConfigError(
          messages[error.code ?? ''] ?? `Cannot listen on HOST ${host}, PORT ${port}: ${reason(error)}.`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      listening(server.address() as AddressInfo);
    });
  });
}
