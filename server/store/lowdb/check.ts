/**
 * `npm run store:check`: every problem of a lowdb DATA_DIR, found without opening the store (which
 * refuses a damaged index or policy), and `--repair`, which rebuilds the index from the user files and
 * moves whatever is damaged to DATA_DIR/quarantine/<time>/, losing nothing else.
 */
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { isMissing, nodeFs, syncDirectory } from '../fs';
import {
  type IndexEntry,
  IndexFileSchema,
  IpFailuresSchema,
  PolicySchema,
  parserFor,
  StoredKeysSchema,
  TokenRecordSchema,
  UnknownNameSchema,
  UserRecordSchema,
  unseal,
  usernameKey,
} from '../records';
import type { UserRecord } from '../types';
import { lockDirectory } from './dir-lock';
import { CorruptFileError, DurableJsonFile, writeFileDurably } from './durable-json-file';
import { ApplicationsSchema, OIDC_LAYOUT } from './oidc';
import { parseChange } from './user-index';

export type ProblemKind =
  | 'policy_damaged'
  | 'index_damaged'
  | 'user_damaged'
  | 'user_missing'
  | 'user_orphan'
  | 'user_name_clash'
  | 'token_damaged'
  | 'ip_failures_damaged'
  | 'unknown_name_damaged'
  | 'audit_lines_damaged'
  | 'oidc_applications_damaged'
  | 'oidc_keys_damaged'
  | 'oidc_record_damaged'
  | 'temp_file';

export interface StoreProblem {
  kind: ProblemKind;
  /** Relative to DATA_DIR. */
  path: string;
  detail: string;
  /** What --repair does about it. */
  repair: string;
}

export interface CheckReport {
  dir: string;
  users: number;
  /** Records written before checksums existed: read as they are, sealed by --repair or their next write. */
  unsealed: number;
  problems: StoreProblem[];
}

interface UserFile {
  id: string;
  path: string;
  record: UserRecord;
  sealed: boolean;
}

interface Scan {
  report: CheckReport;
  /** The index as far as it could be read; null when it cannot be trusted (a damaged snapshot or line). */
  index: Map<string, IndexEntry> | null;
  userFiles: UserFile[];
  /** Files --repair moves to quarantine. */
  quarantine: string[];
  /** Whole records of the previous version, which --repair rewrites with their checksum. */
  unsealed: Array<{ path: string; parse: (raw: unknown) => unknown }>;
}

/** What --repair says of a damaged file it leaves in place for a restore. */
const restoreFile = (file: string, orElse: string) =>
  `none: stop the server, restore a backup into a new directory (npm run store:restore -- --from FILE --to DIR) and copy its ${file} here; or ${orElse}`;

const TEMP_FILE = /^\..+\.tmp$/;
const parseUser: (raw: unknown) => UserRecord = parserFor(UserRecordSchema);
const parseToken: (raw: unknown) => unknown = parserFor(TokenRecordSchema);
const parseIpFailures: (raw: unknown) => unknown = parserFor(IpFailuresSchema);
const parseUnknownName: (raw: unknown) => unknown = parserFor(UnknownNameSchema);
const parsePolicy: (raw: unknown) => unknown = parserFor(PolicySchema);

async function records(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => name.endsWith('.json') || TEMP_FILE.test(name)).sort();
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

async function scan(dir: string): Promise<Scan> {
  const problems: StoreProblem[] = [];
  const quarantine: string[] = [];
  const unsealed: Scan['unsealed'] = [];
  let unsealedCount = 0;
  const rel = (path: string) => relative(dir, path);
  const problem = (kind: ProblemKind, path: string, detail: string, repair: string) =>
    problems.push({ kind, path: rel(path), detail, repair });

  const policyPath = join(dir, 'policy.json');
  try {
    const policy = await new DurableJsonFile(policyPath, parsePolicy).inspect();
    if (policy && !policy.sealed) {
      unsealedCount++;
      unsealed.push({ path: policyPath, parse: parsePolicy });
    }
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    problem(
      'policy_damaged',
      policyPath,
      error.reason,
      'none: restore policy.json from a backup (or delete it to fall back to the default policy, then set it again)',
    );
  }

  let index: Map<string, IndexEntry> | null = new Map();
  const snapshotPath = join(dir, 'index.json');
  try {
    const snapshot = await new DurableJsonFile(snapshotPath, parserFor(IndexFileSchema)).inspect();
    for (const entry of snapshot?.value.users ?? []) index.set(entry.id, entry);
    if (snapshot && !snapshot.sealed) unsealedCount++;
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    problem(
      'index_damaged',
      snapshotPath,
      error.reason,
      'rebuilt from the user files; the damaged copy quarantined',
    );
    quarantine.push(snapshotPath);
    index = null;
  }
  const journalPath = join(dir, 'index.jsonl');
  const journal = await readFile(journalPath, 'utf8').catch((error) =>
    isMissing(error) ? '' : Promise.reject(error),
  );
  const lines = journal.split('\n');
  const tail = lines.pop() ?? '';
  // A last line that lost only its newline is whole (the store keeps it); a torn one is cut at open.
  if (tail && parseChange(tail)) lines.push(tail);
  const damagedLines: number[] = [];
  lines.forEach((line, i) => {
    if (!line) return;
    const change = parseChange(line);
    if (!change) {
      damagedLines.push(i + 1);
      return;
    }
    if (!index) return;
    if (change.op === 'put') index.set(change.entry.id, change.entry);
    else index.delete(change.id);
  });
  if (damagedLines.length > 0) {
    problem(
      'index_damaged',
      journalPath,
      `line${damagedLines.length > 1 ? 's' : ''} ${damagedLines.join(', ')} damaged`,
      'rebuilt from the user files; the damaged copy quarantined',
    );
    quarantine.push(journalPath);
    index = null;
  }

  const usersDir = join(dir, 'users');
  const userFiles: UserFile[] = [];
  for (const name of await records(usersDir)) {
    const path = join(usersDir, name);
    if (TEMP_FILE.test(name)) {
      problem('temp_file', path, 'left by a write a crash interrupted', 'quarantined');
      quarantine.push(path);
      continue;
    }
    const id = name.slice(0, -'.json'.length);
    try {
      const file = await new DurableJsonFile(path, parseUser).inspect();
      if (!file) continue;
      if (file.value.id !== id) throw new CorruptFileError(path, 'the file holds another user');
      if (!file.sealed) unsealedCount++;
      userFiles.push({ id, path, record: file.value, sealed: file.sealed });
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      const entry = index?.get(id);
      problem(
        'user_damaged',
        path,
        `${entry ? `account ${entry.username}: ` : ''}${error.reason}`,
        'quarantined; the account leaves the index (restore it from a backup: npm run store:restore -- --user)',
      );
      quarantine.push(path);
    }
  }
  const onDisk = new Set(userFiles.map((file) => file.id));
  const damaged = new Set(problems.filter((p) => p.kind === 'user_damaged').map((p) => p.path));
  if (index) {
    for (const entry of index.values()) {
      if (onDisk.has(entry.id) || damaged.has(rel(join(usersDir, `${entry.id}.json`)))) continue;
      problem(
        'user_missing',
        join(usersDir, `${entry.id}.json`),
        `account ${entry.username}: the index names it but its file is missing`,
        'the account leaves the index (restore it from a backup: npm run store:restore -- --user)',
      );
    }
    for (const file of userFiles) {
      if (index.has(file.id)) continue;
      problem(
        'user_orphan',
        file.path,
        `${file.record.username}: a user file the index does not name (a create or delete a crash interrupted)`,
        'quarantined',
      );
      quarantine.push(file.path);
    }
  } else {
    // Without an index, the files say who exists; two files claiming one name cannot both be kept.
    const byKey = new Map<string, UserFile>();
    for (const file of [...userFiles].sort((a, b) => a.record.createdAt.localeCompare(b.record.createdAt))) {
      const key = usernameKey(file.record.username);
      if (!byKey.has(key)) {
        byKey.set(key, file);
        continue;
      }
      problem(
        'user_name_clash',
        file.path,
        `${file.record.username}: another, older user file has this name`,
        'quarantined',
      );
      quarantine.push(file.path);
    }
  }

  for (const [sub, kind, parse] of [
    ['tokens', 'token_damaged', parseToken],
    ['ip-failures', 'ip_failures_damaged', parseIpFailures],
    ['unknown-names', 'unknown_name_damaged', parseUnknownName],
  ] as const) {
    for (const name of await records(join(dir, sub))) {
      const path = join(dir, sub, name);
      if (TEMP_FILE.test(name)) {
        problem('temp_file', path, 'left by a write a crash interrupted', 'quarantined');
        quarantine.push(path);
        continue;
      }
      try {
        const file = await new DurableJsonFile(path, parse).inspect();
        if (file && !file.sealed) {
          unsealedCount++;
          unsealed.push({ path, parse });
        }
      } catch (error) {
        if (!(error instanceof CorruptFileError)) throw error;
        // The store already treats these as absent: a token grants nothing, failures and lockouts of
        // unknown names start again.
        problem(kind, path, error.reason, 'quarantined (the store treats it as absent already)');
        quarantine.push(path);
      }
    }
  }
  for (const name of await records(dir)) {
    if (!TEMP_FILE.test(name)) continue;
    problem('temp_file', join(dir, name), 'left by a write a crash interrupted', 'quarantined');
    quarantine.push(join(dir, name));
  }

  await scanOidc(dir, { problem, quarantine, unsealed });
  unsealedCount += unsealed.filter((record) => record.path.startsWith(join(dir, OIDC_LAYOUT.dir))).length;

  const auditPath = join(dir, 'audit.jsonl');
  const damagedAudit = await countDamagedLines(auditPath);
  if (damagedAudit > 0) {
    problem(
      'audit_lines_damaged',
      auditPath,
      `${damagedAudit} line${damagedAudit === 1 ? '' : 's'} damaged (left out of listings)`,
      'none: the audit log is evidence and is never rewritten',
    );
  }

  const users = index
    ? [...index.keys()].filter((id) => onDisk.has(id) && !quarantine.includes(join(usersDir, `${id}.json`)))
        .length
    : userFiles.filter((file) => !quarantine.includes(file.path)).length;
  return {
    report: { dir, users, unsealed: unsealedCount, problems },
    index,
    userFiles,
    quarantine,
    unsealed,
  };
}

/**
 * DATA_DIR/oidc: the applications and the key set are the store's to keep (the server refuses to
 * start on damaged applications; a damaged key set stops sign-ins to applications), so --repair
 * leaves them for a restore. Provider records (sessions, grants, codes, their indexes) are
 * short-lived, and the store already reads a damaged one as absent: quarantined.
 */
async function scanOidc(
  dir: string,
  found: {
    problem: (kind: ProblemKind, path: string, detail: string, repair: string) => void;
    quarantine: string[];
    unsealed: Scan['unsealed'];
  },
): Promise<void> {
  const oidcDir = join(dir, OIDC_LAYOUT.dir);
  const kept: { path: string; parse: (raw: unknown) => unknown; kind: ProblemKind; repair: string }[] = [
    {
      path: join(oidcDir, OIDC_LAYOUT.applications),
      parse: parserFor(ApplicationsSchema),
      kind: 'oidc_applications_damaged',
      repair: restoreFile(
        `${OIDC_LAYOUT.dir}/${OIDC_LAYOUT.applications}`,
        'delete it and register the applications again (each gets a new client id and secret)',
      ),
    },
    {
      path: join(oidcDir, OIDC_LAYOUT.keys),
      parse: parserFor(StoredKeysSchema),
      kind: 'oidc_keys_damaged',
      repair: restoreFile(
        `${OIDC_LAYOUT.dir}/${OIDC_LAYOUT.keys}`,
        'delete it: the server makes new keys at start, and tokens signed before no longer verify',
      ),
    },
  ];
  for (const file of kept) {
    try {
      const read = await new DurableJsonFile(file.path, file.parse).inspect();
      if (read && !read.sealed) found.unsealed.push({ path: file.path, parse: file.parse });
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      found.problem(file.kind, file.path, error.reason, file.repair);
    }
  }
  for (const name of await records(oidcDir)) {
    if (!TEMP_FILE.test(name)) continue;
    found.problem('temp_file', join(oidcDir, name), 'left by a write a crash interrupted', 'quarantined');
    found.quarantine.push(join(oidcDir, name));
  }
  for (const [sub, schema] of Object.entries(OIDC_LAYOUT.records)) {
    const parse = parserFor<unknown>(schema);
    for (const name of await records(join(oidcDir, sub))) {
      const path = join(oidcDir, sub, name);
      if (TEMP_FILE.test(name)) {
        found.problem('temp_file', path, 'left by a write a crash interrupted', 'quarantined');
        found.quarantine.push(path);
        continue;
      }
      try {
        const read = await new DurableJsonFile(path, parse).inspect();
        if (read && !read.sealed) found.unsealed.push({ path, parse });
      } catch (error) {
        if (!(error instanceof CorruptFileError)) throw error;
        found.problem(
          'oidc_record_damaged',
          path,
          error.reason,
          'quarantined (the store treats it as absent already: that sign-in or token ends)',
        );
        found.quarantine.push(path);
      }
    }
  }
}

async function countDamagedLines(path: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isMissing(error)) return 0;
    throw error;
  }
  const lines = text.split('\n');
  lines.pop(); // a torn or newline-less last line is the store's to settle at open
  let damaged = 0;
  for (const line of lines) {
    if (!line) continue;
    try {
      JSON.parse(unseal(line).json);
    } catch {
      damaged++;
    }
  }
  return damaged;
}

export async function checkStore(dir: string): Promise<CheckReport> {
  return (await scan(dir)).report;
}

export interface RepairReport {
  /** The problems found before the repair. */
  before: CheckReport;
  quarantined: string[];
  /** Where they went (relative to DATA_DIR), or null when nothing was moved. */
  quarantineDir: string | null;
  indexRebuilt: boolean;
  sealed: number;
  after: CheckReport;
}

/**
 * Holds the directory's lock throughout (so it refuses while a server runs, and no server starts
 * meanwhile). Moves every damaged file, orphan and temp file to quarantine/<time>/, rewrites the index
 * from the user files that remain (names and roles from the index where it could be read: a change
 * commits there first), and seals the records of the previous version.
 */
export async function repairStore(dir: string, now = new Date()): Promise<RepairReport> {
  const unlock = await lockDirectory(dir);
  try {
    const found = await scan(dir);
    const stamp = now.toISOString().replaceAll(':', '-');
    const quarantineDir = join(dir, 'quarantine', stamp);
    const moved: string[] = [];
    const keep = new Set<string>();
    for (const path of found.quarantine) {
      const target = join(quarantineDir, relative(dir, path));
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      if (path.endsWith('index.json') || path.endsWith('index.jsonl')) {
        // The damaged index is copied, not moved: it is rewritten below, durably, in place.
        await writeFileDurably(target, await readFile(path, 'utf8'));
      } else {
        await rename(path, target);
        await syncDirectory(nodeFs, dirname(target));
        await syncDirectory(nodeFs, dirname(path));
      }
      moved.push(relative(dir, path));
      keep.add(path);
    }

    const survivors = found.userFiles.filter((file) => !keep.has(file.path));
    const entries: IndexEntry[] = [];
    let sealed = 0;
    for (const file of survivors) {
      const indexed = found.index?.get(file.id);
      const username = indexed?.username ?? file.record.username;
      const role = indexed?.role ?? file.record.role;
      if (found.index && !indexed) continue;
      if (!file.sealed || username !== file.record.username || role !== file.record.role) {
        await new DurableJsonFile(file.path, parseUser).write({ ...file.record, username, role });
        sealed++;
      }
      entries.push({ id: file.id, username, key: usernameKey(username), role });
    }
    // Snapshot first, then the empty journal: a crash between leaves the new snapshot and the old
    // journal, and replaying a journal over a snapshot that holds its changes is harmless.
    await new DurableJsonFile(join(dir, 'index.json'), parserFor(IndexFileSchema)).write({
      version: 1,
      users: entries,
    });
    await writeFileDurably(join(dir, 'index.jsonl'), '');
    for (const record of found.unsealed) {
      const file = new DurableJsonFile(record.path, record.parse);
      const value = await file.read();
      if (value !== null) {
        await file.write(value);
        sealed++;
      }
    }
    return {
      before: found.report,
      quarantined: moved,
      quarantineDir: moved.length > 0 ? relative(dir, quarantineDir) : null,
      indexRebuilt: true,
      sealed,
      after: (await scan(dir)).report,
    };
  } finally {
    await unlock();
  }
}

export function formatReport(report: CheckReport): string {
  const lines = [
    `${report.dir}: ${report.users} account${report.users === 1 ? '' : 's'}, ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`,
  ];
  for (const p of report.problems)
    lines.push(`  ${p.kind}  ${p.path}: ${p.detail}\n      --repair: ${p.repair}`);
  if (report.unsealed > 0) {
    lines.push(
      `  ${report.unsealed} record${report.unsealed === 1 ? '' : 's'} without a checksum (written by an earlier version): sealed by --repair or at their next write`,
    );
  }
  return lines.join('\n');
}
