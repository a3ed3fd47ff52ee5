/**
 * Which storage key this process runs with (docs/SECURITY.md, "Secrets at rest"): the one set in
 * STORAGE_ENCRYPTION_KEY(_FILE), required in production, off the loopback and with PostgreSQL; or,
 * for a newcomer's lowdb store on the loopback, `DATA_DIR/storage.key`, generated at the first start
 * (created exclusively, mode 0600) so that the README's two commands work with nothing set.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Config, ConfigError, isLoopback, MAKE_A_KEY, storageKeyFrom } from './config';
import { newStorageKey } from './crypto/sealing';
import { writeSecretFile } from './store/secret-file';
import type { StorageKeys } from './store/secrets';

/** The generated key's file name in DATA_DIR. */
export const GENERATED_KEY_FILE = 'storage.key';

type KeySettings = Pick<Config, 'storageKey' | 'production' | 'database' | 'host'>;

/** Why the key must be set rather than generated, or null when a generated one will do. */
function whyRequired(config: KeySettings): string | null {
  if (config.production) return 'NODE_ENV=production';
  if (config.database) return 'DATABASE_URL (every instance must hold the same key)';
  if (!isLoopback(config.host)) return `HOST ${config.host} (off the loopback)`;
  return null;
}

/** Refuses, in one line naming the setting, a start that needs a key and has none; before anything is written. */
export function checkStorageKeySetting(config: KeySettings): void {
  const why = config.storageKey ? null : whyRequired(config);
  if (why) {
    throw new ConfigError(
      `STORAGE_ENCRYPTION_KEY or STORAGE_ENCRYPTION_KEY_FILE is required with ${why}: make one with ${MAKE_A_KEY}, and keep it apart from backups.`,
    );
  }
}

/**
 * The keys to open the store with. Nothing is written here: a key generated for a newcomer comes
 * with `writeGenerated`, which the caller runs once DATA_DIR exists (after the other start-up checks)
 * and which resolves with the file's path, to print once like the first admin's password. A key file
 * already there is read; one that is not a key is refused in one line naming it.
 */
export async function storageKeysFor(
  config: KeySettings,
  dataDir: string,
): Promise<{ keys: StorageKeys; writeGenerated: (() => Promise<string>) | null }> {
  checkStorageKeySetting(config);
  if (config.storageKey) return { keys: config.storageKey, writeGenerated: null };
  const file = join(dataDir, GENERATED_KEY_FILE);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new ConfigError(`The storage key file ${file} cannot be read (${error.code ?? error}).`);
  });
  if (text !== null) {
    return { keys: { current: storageKeyFrom(file, text), previous: null }, writeGenerated: null };
  }
  const key = newStorageKey();
  const writeGenerated = async () => {
    // Exclusive: a key must never replace another (values sealed under it would be lost).
    await writeSecretFile(file, `${key.text()}\n`, { exclusive: true }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
        throw new ConfigError(
          `${file} appeared while starting: another process is starting on this DATA_DIR.`,
        );
      },
    );
    return file;
  };
  return { keys: { current: key, previous: null }, writeGenerated };
}

/** The line printed once when the key was generated: where it is, and that backups need it apart. */
export function generatedKeyNotice(file: string): string {
  return `\nGenerated the storage key ${file} (mode 0600): TOTP secrets and the OpenID Connect keys are encrypted under it. Keep a copy apart from your backups: a restore needs it, and whoever has both reads the secrets.\n\n`;
}

/** For the commands that open the store beside the server: the keys, the notice printed if generated. */
export async function openingKeys(config: KeySettings & Pick<Config, 'dataDir'>): Promise<StorageKeys> {
  const { keys, writeGenerated } = await storageKeysFor(config, resolve(config.dataDir));
  if (writeGenerated) process.stderr.write(generatedKeyNotice(await writeGenerated()));
  return keys;
}

/**
 * For the store commands (backup, restore): the keys set, or the DATA_DIR's generated key file if
 * there is one, read without generating; null: neither (the store is opened as it is).
 */
export function storageKeysIn(config: Pick<Config, 'storageKey'>, dataDir: string): StorageKeys | null {
  if (config.storageKey) return config.storageKey;
  const file = join(dataDir, GENERATED_KEY_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(
      `The storage key file ${file} cannot be read (${(error as NodeJS.ErrnoException).code}).`,
    );
  }
  return { current: storageKeyFrom(file, text), previous: null };
}
