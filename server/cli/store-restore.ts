/**
 * `npm run store:restore -- --from FILE --to DIR [--identity-file FILE]`: restores a backup into an
 * empty DATA_DIR, then opens it again and checks every account against the archive. An age-encrypted
 * archive is decrypted (as it is read, each time) with the identity file's keys.
 * `npm run store:restore -- --from FILE --to DIR --user NAME`: puts back one damaged (or deleted)
 * account into an existing DATA_DIR, while no server runs there.
 */
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  type BackupCounts,
  type BackupItem,
  oidcSummary,
  openSealedItems,
  readArchive,
  verifyArchive,
} from '../store/backup';
import { identitiesFrom } from '../store/backup-encryption';
import { nodeFs, syncDirectory } from '../store/fs';
import { LowdbStore } from '../store/lowdb';
import { usernameKey } from '../store/records';
import { StoreSecrets } from '../store/secrets';
import type { UserRecord } from '../store/types';
import { dataDirOf, fail, parseCommand, refuseOnPostgres, run, storeOptions } from './args';

const USAGE = `usage: npm run store:restore -- --from FILE --to DIR [--identity-file FILE] [--user NAME]
       (installed: sparekey store restore …)
  --from FILE           the archive store backup wrote (age-encrypted or not)
  --to DIR              the DATA_DIR to restore into: empty or absent (or, with --user, the existing one)
  --identity-file FILE  the age identity file (AGE-SECRET-KEY-1…, from age-keygen) that decrypts an
                        encrypted archive
  --user NAME           put back this one account into an existing DATA_DIR while no server runs there`;

async function isEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return true;
  }
}

run(async () => {
  const args = parseCommand(USAGE, {
    from: { type: 'string' },
    to: { type: 'string' },
    user: { type: 'string' },
    'identity-file': { type: 'string' },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!args.from || !args.to) fail(USAGE, 2);
  refuseOnPostgres(
    'store:restore',
    'restore the database from a pg_dump archive with pg_restore (README, Backups).',
  );
  const from = args.from;
  const dir = dataDirOf(args.to);
  const key = args['identity-file'] ? await identitiesFrom(args['identity-file']) : null;
  // The archive's secrets are sealed under the storage key of the store it came from: this one's must match.
  const secrets = new StoreSecrets(storeOptions(dir).storageKeys ?? null);
  const items = (): AsyncGenerator<BackupItem> => openSealedItems(readArchive(from, key), secrets);
  // Nothing is written before the whole archive has been read (decrypted, its secrets opened) and found intact.
  const counts = await verifyArchive(from, key, secrets);

  if (args.user) {
    const name = usernameKey(args.user);
    let found: UserRecord | null = null;
    for await (const item of items()) {
      if (item.kind === 'user' && usernameKey(item.user.username) === name) found = item.user;
    }
    if (!found) fail(`${from} holds no account named ${args.user}.`);
    const store = new LowdbStore(dir, storeOptions(dir));
    await store.open();
    try {
      const outcome = await store.restoreUser(found);
      process.stdout.write(
        `${outcome === 'created' ? 'Restored' : 'Replaced the damaged record of'} ${found.username} from ${from}.\n`,
      );
    } finally {
      await store.close();
    }
    return 0;
  }

  if (!(await isEmpty(dir)))
    fail(`${dir} is not empty: restore into an empty DATA_DIR (or use --user NAME).`);
  // Restored beside DATA_DIR and renamed into place only once verified: a restore that fails midway
  // leaves DATA_DIR as it was, never half written.
  await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
  const staging = await mkdtemp(join(dirname(dir), `.${basename(dir)}.restoring-`));
  try {
    const { mismatches } = await restoreInto(staging, items, counts).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`The restore failed: ${reason} (${dir} is left as it was).`);
    });
    // Thrown, not fail(): the staging directory is removed on the way out.
    if (mismatches > 0) throw new Error(`The restore does not match ${from}: ${dir} is left as it was.`);
    await rename(staging, dir);
    await syncDirectory(nodeFs, dirname(dir));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  process.stdout.write(
    `Restored ${counts.users} account(s) and ${counts.audit} audit event(s)${oidcSummary(counts)} into ${dir}; verified against ${from}.\n`,
  );
  if (counts.damaged > 0) {
    process.stdout.write(
      `${counts.damaged} account(s) were damaged when the backup was taken and are not restored.\n`,
    );
  }
  return 0;
});

/** Imports the archive into the empty directory `dir`, then reopens it and compares it with the archive. */
async function restoreInto(
  dir: string,
  items: () => AsyncGenerator<BackupItem>,
  counts: BackupCounts,
): Promise<{ mismatches: number }> {
  const store = new LowdbStore(dir, storeOptions(dir));
  await store.open();
  try {
    await store.importBackup(items());
  } finally {
    await store.close();
  }

  // Verify: open what was written as the server would, and compare every account, application and
  // the key set with the archive.
  const check = new LowdbStore(dir, storeOptions(dir));
  await check.open();
  let mismatches = 0;
  const differs = (what: string) => {
    mismatches++;
    process.stderr.write(`${what} differs from the archive after the restore\n`);
  };
  try {
    for await (const item of items()) {
      if (item.kind === 'user' && !isDeepStrictEqual(await check.getUser(item.user.id), item.user)) {
        differs(`account ${item.user.username}`);
      }
      if (
        item.kind === 'application' &&
        !isDeepStrictEqual(await check.getApplication(item.application.id), item.application)
      ) {
        differs(`application ${item.application.name}`);
      }
      if (item.kind === 'oidc_keys' && !isDeepStrictEqual(await check.getOidcKeys(), item.keys)) {
        differs('the OpenID Connect key set');
      }
    }
    if ((await check.countUsers()) !== counts.users) mismatches++;
    if ((await check.listApplications()).length !== counts.applications) mismatches++;
    let audit = 0;
    for await (const item of check.exportBackup()) if (item.kind === 'audit') audit++;
    if (audit !== counts.audit) {
      mismatches++;
      process.stderr.write(`${audit} audit events restored, ${counts.audit} in the archive\n`);
    }
  } finally {
    await check.close();
  }
  return { mismatches };
}
