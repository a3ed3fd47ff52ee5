/**
 * `npm run store:migrate -- --from <DATA_DIR> --to <DATABASE_URL>`: copies a lowdb store into
 * PostgreSQL (./store/postgres/from-lowdb.ts) and prints what it copied and checked. Run it with the
 * lowdb server stopped (the data directory's lock refuses otherwise); running it again is harmless.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, secretSetting } from './config';
import { storageKeysIn } from './storage-key';
import { LowdbStore } from './store/lowdb';
import { PostgresStore } from './store/postgres';
import { describeTarget } from './store/postgres/db';
import { copyLowdbToPostgres } from './store/postgres/from-lowdb';

const USAGE =
  'Usage: npm run store:migrate -- --from <DATA_DIR> --to <postgres://…> (--to defaults to DATABASE_URL or DATABASE_URL_FILE)';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } } });
  const from = values.from;
  const to = values.to ?? secretSetting(process.env, 'DATABASE_URL');
  if (!from || !to) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const dataDir = resolve(from);
  if (!statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
    process.stderr.write(`${dataDir} is not a directory: --from names the lowdb DATA_DIR.\n`);
    return 2;
  }
  // Secrets are opened with the lowdb store's key and sealed with the server's (required with PostgreSQL).
  const { storageKey } = loadConfig();
  if (!storageKey) {
    process.stderr.write(
      'STORAGE_ENCRYPTION_KEY or STORAGE_ENCRYPTION_KEY_FILE is required: the key the PostgreSQL store is sealed under.\n',
    );
    return 2;
  }
  const source = new LowdbStore(dataDir, {
    storageKeys: storageKeysIn({ storageKey: null }, dataDir) ?? storageKey,
  });
  const target = new PostgresStore({ url: to, poolSize: 2, storageKeys: storageKey });
  await source.open();
  try {
    await target.open();
    try {
      const report = await copyLowdbToPostgres(source, target);
      const { users, codes, auditEvents, applications } = report;
      process.stdout.write(
        [
          `Copied ${dataDir} into ${describeTarget(to)}:`,
          `  policy        ${report.policy}`,
          `  users         ${users.copied} copied, ${users.alreadyThere} already there, ${users.checked} checked`,
          `  backup codes  ${codes.sets} sets, ${codes.codes} codes (${codes.spent} spent), checked with their users`,
          `  audit events  ${auditEvents.copied} copied, ${auditEvents.alreadyThere} already there, ${auditEvents.checked} checked`,
          `  applications  ${applications.copied} copied, ${applications.alreadyThere} already there`,
          `  oidc keys     ${report.oidcKeys}`,
          '  sessions      not copied: users sign in again',
          '',
        ].join('\n'),
      );
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // One line the operator can act on; the URL (which may hold a password) is never printed.
    process.stderr.write(`store:migrate: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
