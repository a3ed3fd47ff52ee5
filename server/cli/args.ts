/** What the store commands share: their arguments, the DATA_DIR they act on, and how they fail. */
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { storageKeysIn } from '../storage-key';
import type { LowdbStoreOptions } from '../store/lowdb';

/** The settings a store command reads; the rest of the environment is the server's alone. */
const STORE_SETTINGS = [
  'AUDIT_ROTATE_MB',
  'AUDIT_RETENTION_DAYS',
  'AUDIT_RETENTION_FILES',
  'STORAGE_ENCRYPTION_KEY',
  'STORAGE_ENCRYPTION_KEY_FILE',
  'STORAGE_ENCRYPTION_PREVIOUS_KEY',
  'STORAGE_ENCRYPTION_PREVIOUS_KEY_FILE',
] as const;

/**
 * The store options the server would use for `dataDir`: its audit retention from the same AUDIT_*
 * variables, so a command that opens the store never prunes audit files the server would keep, and
 * its storage key (STORAGE_ENCRYPTION_KEY(_FILE), or the DATA_DIR's generated storage.key).
 */
export function storeOptions(dataDir: string): LowdbStoreOptions {
  const env = Object.fromEntries(
    STORE_SETTINGS.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]])),
  );
  const config = loadConfig(env);
  return { audit: config.audit, storageKeys: storageKeysIn(config, dataDir) };
}

/**
 * The store commands act on a lowdb DATA_DIR. With DATABASE_URL set the server's store is PostgreSQL
 * (the server's own selection: server/store/select.ts), so acting on DATA_DIR would check, copy or
 * fill a directory no server reads and report success: refuse in one line naming what to use instead.
 */
export function refuseOnPostgres(command: string, instead: string): void {
  const { DATABASE_URL, DATABASE_URL_FILE } = process.env;
  if (loadConfig({ DATABASE_URL, DATABASE_URL_FILE }).database) {
    fail(
      `DATABASE_URL is set, so the server's store is PostgreSQL; ${command} works on a lowdb DATA_DIR only: ${instead}`,
    );
  }
}

/** The server's DATA_DIR (as `npm start` reads it), or `--data-dir`. */
export function dataDirOf(given: string | undefined): string {
  return resolve(given ?? (process.env.DATA_DIR || './data'));
}

export function parseCommand<T extends NonNullable<ParseArgsConfig['options']>>(usage: string, options: T) {
  try {
    return parseArgs({ options: { ...options, help: { type: 'boolean' } }, allowPositionals: false }).values;
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`, 2);
  }
}

/** As parseCommand, for a command that also takes operands (`npm run admin -- promote alice`). */
export function parseCommandWithOperands<T extends NonNullable<ParseArgsConfig['options']>>(
  usage: string,
  options: T,
) {
  try {
    return parseArgs({ options: { ...options, help: { type: 'boolean' } }, allowPositionals: true });
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`, 2);
  }
}

export function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** Runs a command's main, printing a failure's message (never a stack of secrets) and exiting 1. */
export function run(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
  );
}
