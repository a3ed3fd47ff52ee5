/**
 * `sparekey store rekey --new-key-file FILE`: every sealed secret (TOTP secrets, the OpenID Connect
 * key set) re-encrypted under the key in FILE (docs/OPERATIONS.md, "Changing the storage key").
 *
 * PostgreSQL, online: the store makes the new key current in one transaction, re-seals in batches of
 * short transactions, and forgets the old key once nothing is under it; instances configured with
 * both keys (STORAGE_ENCRYPTION_KEY = new, STORAGE_ENCRYPTION_PREVIOUS_KEY = old) serve throughout.
 * Interrupted, it is run again and resumes.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Config, ConfigError, loadConfig, storageKeyFrom } from '../config';
import type { StorageKey } from '../crypto/sealing';
import { GENERATED_KEY_FILE, storageKeysIn } from '../storage-key';
import { LowdbStore } from '../store/lowdb';
import { DirectoryInUseError } from '../store/lowdb/dir-lock';
import { Db } from '../store/postgres/db';
import { readKeyCheck, rekeyPostgres } from '../store/postgres/storage-key';
import { writeSecretFile } from '../store/secret-file';
import { StorageKeyMismatchError, StoreSecrets } from '../store/secrets';
import { fail, parseCommand, run, storeOptions } from './args';

const USAGE = `usage: sparekey store rekey --new-key-file FILE
Re-encrypts the stored secrets (TOTP secrets, the OpenID Connect keys) under the key in FILE
(at least 32 random bytes, base64 or hex: openssl rand -base64 32 > FILE; chmod 600 FILE).
The current key is the one the server is configured with (STORAGE_ENCRYPTION_KEY or _FILE, and
STORAGE_ENCRYPTION_PREVIOUS_KEY or _FILE).
  PostgreSQL: online. First give every instance the new key as STORAGE_ENCRYPTION_KEY and the
  old one as STORAGE_ENCRYPTION_PREVIOUS_KEY (restart them one by one), then run this; once it
  reports done, drop STORAGE_ENCRYPTION_PREVIOUS_KEY. Interrupted, run it again: it resumes.
  lowdb: with the server stopped. Then start it with the new key (a generated DATA_DIR/storage.key
  is replaced by it). Interrupted, the store opens with the new key, or run this again.`;

/** The key the store names among those this command holds, or the one-line refusal. */
function keyWithId(keys: StorageKey[], id: string | null): StorageKey {
  const key = keys.find((candidate) => candidate.id === id);
  if (!key) throw new StorageKeyMismatchError();
  return key;
}

run(async () => {
  const args = parseCommand(USAGE, { 'new-key-file': { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = args['new-key-file'];
  if (!file) fail(`--new-key-file is required.\n${USAGE}`, 2);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(`--new-key-file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? error}).`);
  }
  const config = loadConfig();
  const next = storageKeyFrom(`--new-key-file ${file}`, text);
  if (!config.database) return rekeyLowdb(config, next);
  if (!config.storageKey) {
    throw new ConfigError(
      'STORAGE_ENCRYPTION_KEY or STORAGE_ENCRYPTION_KEY_FILE is required: the key the store is under now.',
    );
  }
  const held = [
    config.storageKey.current,
    ...(config.storageKey.previous ? [config.storageKey.previous] : []),
    next,
  ];
  const db = new Db(config.database, () => undefined);
  try {
    const check = await readKeyCheck(db).catch((error: unknown) => {
      if ((error as { code?: string }).code === '42P01') return null;
      throw error;
    });
    if (!check)
      fail('The store has no storage key yet: start the server once with STORAGE_ENCRYPTION_KEY set.');
    const oldId = check.keyId === next.id ? check.previousKeyId : check.keyId;
    if (oldId === null) {
      process.stdout.write(`The store is already under the key ${next.id}; nothing to re-encrypt.\n`);
      return 0;
    }
    const secrets = new StoreSecrets({ current: next, previous: keyWithId(held, oldId) });
    const { resealed } = await rekeyPostgres(db, secrets, next.id);
    process.stdout.write(
      `Re-encrypted ${resealed} stored secret(s) under the key ${next.id} (postgresql); the key ${oldId} is no longer used. ` +
        'Set STORAGE_ENCRYPTION_KEY to the new key everywhere and drop STORAGE_ENCRYPTION_PREVIOUS_KEY.\n',
    );
    return 0;
  } finally {
    await db.end();
  }
});

/**
 * lowdb, with the server stopped (the directory lock says so): LowdbStore.rekey commits the new key
 * in one write of the key check, then re-seals every file. A store that used the generated
 * DATA_DIR/storage.key gets the new key written there last; cut before that, a second run does it.
 */
async function rekeyLowdb(config: Config, next: StorageKey): Promise<number> {
  const dataDir = resolve(config.dataDir);
  const held = storageKeysIn(config, dataDir);
  if (!held) fail(`There is no storage key for ${dataDir}: start the server once first.`);
  const old = held.current.id === next.id && held.previous ? held.previous : held.current;
  const store = new LowdbStore(dataDir, {
    ...storeOptions(dataDir),
    storageKeys: { current: next, previous: old },
  });
  try {
    await store.open();
  } catch (error) {
    if (error instanceof DirectoryInUseError) {
      fail(`${error.message} Stop the server first: the lowdb store is rekeyed with the server stopped.`);
    }
    throw error;
  }
  let rewritten: number;
  try {
    rewritten = await store.rekey(next, old);
  } finally {
    await store.close();
  }
  const generated = !config.storageKey;
  if (generated) await writeSecretFile(join(dataDir, GENERATED_KEY_FILE), `${next.text()}\n`);
  process.stdout.write(
    `Re-encrypted ${rewritten} stored file(s) under the key ${next.id} (lowdb, ${dataDir}). ` +
      (generated
        ? `${join(dataDir, GENERATED_KEY_FILE)} now holds the new key.\n`
        : 'Start the server with the new key as STORAGE_ENCRYPTION_KEY.\n'),
  );
  return 0;
}
