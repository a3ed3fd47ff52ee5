/**
 * `npm run store:backup -- --to FILE (--recipient age1… | --recipient-file FILE | --unencrypted)`: a
 * consistent backup of a lowdb DATA_DIR, encrypted with age to the recipients given (the archive holds
 * password hashes, TOTP secrets and the provider's private keys), or in clear when asked explicitly.
 *
 * While a server holds DATA_DIR, the archive comes from that server through its control socket
 * (DATA_DIR/control.sock): only the server knows which writes are in flight (its locks live in its
 * memory), so only it can read each account between two of them. Copying the files from outside
 * could pair an index with user files of another moment, or copy an index journal being compacted.
 * With no server running, this command opens the store itself (holding the lock, so none starts
 * meanwhile). Either way every record is checked on its way to the file (an encrypted archive cannot
 * be read back here: the identity belongs elsewhere), and only a complete archive is renamed into place.
 */
import { request } from 'node:http';
import type { Readable } from 'node:stream';
import { controlSocketPath } from '../control';
import { archive, type BackupCounts, checkedOnTheWay, oidcSummary, writeArchive } from '../store/backup';
import { BackupKeyError, encrypted, recipientsFrom } from '../store/backup-encryption';
import { LowdbStore } from '../store/lowdb';
import { lockOwner } from '../store/lowdb/dir-lock';
import { dataDirOf, fail, parseCommand, refuseOnPostgres, run, storeOptions } from './args';

const USAGE = `usage: npm run store:backup -- --to FILE (--recipient age1… | --recipient-file FILE | --unencrypted) [--data-dir DIR]
       (installed: sparekey store backup …)
Writes a consistent backup of a lowdb DATA_DIR, from the running server or with none running.
  --to FILE              the archive: created 0600 under a temporary name, renamed to FILE once complete
  --recipient age1…      encrypt it with age to this recipient (public key); repeatable
  --recipient-file FILE  encrypt it to every recipient in FILE (one per line, # comments); repeatable
  --unencrypted          write it in clear (it holds password hashes, TOTP secrets and the signing keys)
  --data-dir DIR         the store to back up (default: DATA_DIR, else ./data)
Make a key pair with 'age-keygen -o backup-identity.txt' (it prints the recipient) and keep the identity
file away from the server and the backups: store restore --identity-file needs it.`;

const MISSING_KEY =
  'store:backup needs --recipient age1… or --recipient-file FILE to encrypt the archive to (age-keygen makes a key pair), or --unencrypted to write it in clear.';

function fromServer(dataDir: string): Promise<Readable> {
  return new Promise((done, failed) => {
    const call = request(
      { socketPath: controlSocketPath(dataDir), path: '/backup', method: 'GET' },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          failed(new Error(`The server refused the backup (HTTP ${response.statusCode}).`));
          return;
        }
        done(response);
      },
    );
    call.on('error', (error) =>
      failed(
        new Error(
          `Cannot reach the running server's control socket ${controlSocketPath(dataDir)}: ${error.message}`,
        ),
      ),
    );
    call.end();
  });
}

/** The recipients to encrypt to, or null for --unencrypted: exactly one of the two, checked before any work. */
async function encryptionOf(args: {
  recipient?: string[] | undefined;
  'recipient-file'?: string[] | undefined;
  unencrypted?: boolean | undefined;
}): Promise<string[] | null> {
  const values = args.recipient ?? [];
  const files = args['recipient-file'] ?? [];
  const named = values.length + files.length > 0;
  if (args.unencrypted && named)
    fail('--unencrypted and --recipient/--recipient-file exclude each other: pass one.', 2);
  if (args.unencrypted) return null;
  if (!named) fail(MISSING_KEY, 2);
  try {
    return await recipientsFrom(values, files);
  } catch (error) {
    if (error instanceof BackupKeyError) fail(error.message, 2);
    throw error;
  }
}

run(async () => {
  const args = parseCommand(USAGE, {
    to: { type: 'string' },
    'data-dir': { type: 'string' },
    recipient: { type: 'string', multiple: true },
    'recipient-file': { type: 'string', multiple: true },
    unencrypted: { type: 'boolean' },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!args.to) fail(USAGE, 2);
  refuseOnPostgres('store:backup', 'back the database up with pg_dump --format=custom (README, Backups).');
  const recipients = await encryptionOf(args);
  const to = args.to;
  const dataDir = dataDirOf(args['data-dir']);
  const owner = await lockOwner(dataDir);
  const started = performance.now();
  const write = async (plain: AsyncIterable<Buffer>) => {
    const { bytes, counts } = checkedOnTheWay(plain, to);
    await writeArchive(recipients ? encrypted(bytes, recipients) : bytes, to);
    return counts;
  };
  let counts: BackupCounts;
  if (owner !== null) {
    counts = await write(await fromServer(dataDir));
  } else {
    const store = new LowdbStore(dataDir, storeOptions(dataDir));
    await store.open();
    try {
      counts = await write(archive(store.exportBackup()));
    } finally {
      await store.close();
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const how = recipients ? `encrypted to ${recipients.length} age recipient(s)` : 'not encrypted';
  process.stdout.write(
    `Backed up ${counts.users} account(s) and ${counts.audit} audit event(s)${oidcSummary(counts)} to ${to} (${how}) in ${seconds} s, ${owner !== null ? `from the running server (pid ${owner})` : 'with no server running'}.\n`,
  );
  if (counts.damaged > 0) {
    process.stdout.write(
      `${counts.damaged} damaged account(s) could not be read and are not in it: see npm run store:check.\n`,
    );
  }
  return 0;
});
