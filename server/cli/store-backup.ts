/**
 * `npm run store:backup -- --to FILE [--data-dir DIR]`: a consistent backup of a lowdb DATA_DIR.
 *
 * While a server holds DATA_DIR, the archive comes from that server through its control socket
 * (DATA_DIR/control.sock): only the server knows which writes are in flight (its locks live in its
 * memory), so only it can read each account between two of them. Copying the files from outside
 * could pair an index with user files of another moment, or copy an index journal being compacted.
 * With no server running, this command opens the store itself (holding the lock, so none starts
 * meanwhile). Either way the archive is checked by reading it back before it is renamed into place.
 */
import { request } from 'node:http';
import type { Readable } from 'node:stream';
import { controlSocketPath } from '../control';
import { archive, oidcSummary, verifyArchive, writeArchive } from '../store/backup';
import { LowdbStore } from '../store/lowdb';
import { lockOwner } from '../store/lowdb/dir-lock';
import { dataDirOf, fail, parseCommand, refuseOnPostgres, run, storeOptions } from './args';

const USAGE = 'usage: npm run store:backup -- --to FILE [--data-dir DIR]';

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

run(async () => {
  const args = parseCommand(USAGE, { to: { type: 'string' }, 'data-dir': { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!args.to) fail(USAGE, 2);
  refuseOnPostgres('store:backup', 'back the database up with pg_dump --format=custom (README, Backups).');
  const dataDir = dataDirOf(args['data-dir']);
  const owner = await lockOwner(dataDir);
  const started = performance.now();
  if (owner !== null) {
    await writeArchive(await fromServer(dataDir), args.to);
  } else {
    const store = new LowdbStore(dataDir, storeOptions());
    await store.open();
    try {
      await writeArchive(archive(store.exportBackup()), args.to);
    } finally {
      await store.close();
    }
  }
  const counts = await verifyArchive(args.to);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `Backed up ${counts.users} account(s) and ${counts.audit} audit event(s)${oidcSummary(counts)} to ${args.to} in ${seconds} s, ${owner !== null ? `from the running server (pid ${owner})` : 'with no server running'}.\n`,
  );
  if (counts.damaged > 0) {
    process.stdout.write(
      `${counts.damaged} damaged account(s) could not be read and are not in it: see npm run store:check.\n`,
    );
  }
  return 0;
});
