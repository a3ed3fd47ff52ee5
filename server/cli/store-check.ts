/**
 * `npm run store:check [-- --repair] [--json] [--data-dir DIR]`: lists every problem of a lowdb
 * DATA_DIR; exits 1 when there is one. `--repair` (refused while a server holds the directory)
 * rebuilds the index from the user files and moves damaged files to DATA_DIR/quarantine/.
 */
import { checkStore, formatReport, repairStore } from '../store/lowdb/check';
import { dataDirOf, parseCommand, refuseOnPostgres, run } from './args';

const USAGE = 'usage: npm run store:check -- [--repair] [--json] [--data-dir DIR]';

run(async () => {
  const args = parseCommand(USAGE, {
    repair: { type: 'boolean' },
    json: { type: 'boolean' },
    'data-dir': { type: 'string' },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  refuseOnPostgres(
    'store:check',
    'PostgreSQL checks its own pages and constraints; check the database with its tools (e.g. pg_amcheck).',
  );
  const dir = dataDirOf(args['data-dir']);
  if (!args.repair) {
    const report = await checkStore(dir);
    process.stdout.write(`${args.json ? JSON.stringify(report) : formatReport(report)}\n`);
    return report.problems.length > 0 ? 1 : 0;
  }
  const repair = await repairStore(dir);
  if (args.json) {
    process.stdout.write(`${JSON.stringify(repair)}\n`);
  } else {
    process.stdout.write(`Before:\n${formatReport(repair.before)}\n`);
    if (repair.quarantineDir) {
      process.stdout.write(`Moved ${repair.quarantined.length} file(s) to ${repair.quarantineDir}/:\n`);
      for (const path of repair.quarantined) process.stdout.write(`  ${path}\n`);
    }
    process.stdout.write(
      `Index rebuilt from the user files; ${repair.sealed} record(s) rewritten with a checksum.\n`,
    );
    process.stdout.write(`After:\n${formatReport(repair.after)}\n`);
  }
  return repair.after.problems.some((p) => p.kind !== 'audit_lines_damaged' && p.kind !== 'policy_damaged')
    ? 1
    : 0;
});
