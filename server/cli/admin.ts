/**
 * `npm run admin -- <command> <username> [--yes]`: break-glass recovery for whoever runs the server,
 * when nobody can sign in as an administrator. It opens the store directly, with the server's own
 * environment (DATA_DIR or DATABASE_URL), and changes one account through the same services the
 * admin API uses; every change is audited with no actor and `via: 'host'`.
 *
 * With lowdb the server must be stopped first: the data directory's lock refuses a second process,
 * whose in-memory locks the server would not see. PostgreSQL serializes in the database, so the
 * servers may keep running.
 */
import { statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { type Config, loadConfig } from '../config';
import { argon2Hasher } from '../crypto/hasher';
import { type Deps, type RequestMeta, systemClock } from '../deps';
import { passwordProblem } from '../services/password-rules';
import { resetPassword } from '../services/passwords';
import { adminView, unlockUser, updateUser } from '../services/users';
import { openingKeys } from '../storage-key';
import { DirectoryInUseError } from '../store/lowdb/dir-lock';
import { storeFor } from '../store/select';
import type { Store, UserRecord } from '../store/types';
import { fail, parseCommandWithOperands, run } from './args';

const USAGE = `Usage: npm run admin -- <command> <username> [--yes]
       npm run admin -- list-users

Commands (run on the server host, with the server's DATA_DIR or DATABASE_URL):
  list-users                list the accounts: username, role, MFA set up or not, locked or not,
                            must change password; changes nothing
  reset-mfa <username>      remove the authenticator and backup codes: the next sign-in asks for the
                            password alone, then sets up a new authenticator as the policy asks
  set-password <username>   set a temporary password, to be changed at the next sign-in: the first
                            line of standard input, or (on a terminal, with an empty input or with
                            --generate) a generated one, printed once
  promote <username>        make the user an administrator
  unlock <username>         lift the account's sign-in lockout

Options:
  --yes                     do not ask for confirmation (needed without a terminal)
  --generate                set-password: generate the password, do not read standard input

With the lowdb store, stop the server first, even for list-users: only one process may open the
data directory (its lock refuses a second one). With PostgreSQL they run beside the servers. Every change is written to the audit log as coming
from the server host.`;

/** Audit events of these commands: no address, no browser, marked as made on the host. */
const HOST: RequestMeta = { ip: null, userAgent: null, via: 'host' };

interface Command {
  /** What the confirmation prompt says will happen. */
  describe(user: UserRecord): string;
  run(deps: Deps, user: UserRecord, password: string | null): Promise<string>;
}

const COMMANDS: Record<string, Command> = {
  'reset-mfa': {
    describe: (user) =>
      `remove the authenticator and backup codes of "${user.username}" and end their sessions`,
    async run(deps, user) {
      // A user who had an authenticator sets up a new one at the next sign-in, whatever the policy's
      // per-user choice; one who had none keeps none (the policy may still ask for one).
      const hadAuthenticator = user.mfa.type !== 'none';
      await updateUser(deps, HOST, null, user.id, {
        mfa: hadAuthenticator ? { type: 'totp', configureLater: true } : { type: 'none' },
      });
      return (
        `Reset the MFA of "${user.username}": authenticator and backup codes removed, sessions ended.\n` +
        `The next sign-in asks for the password alone${hadAuthenticator ? ', then sets up a new authenticator' : ''} (as the policy asks).`
      );
    },
  },
  'set-password': {
    describe: (user) =>
      `set a temporary password for "${user.username}", which they must change at the next sign-in, and end their sessions`,
    async run(deps, user, password) {
      const reset = await resetPassword(deps, HOST, null, user.id, password === null ? {} : { password });
      const lead = `Set a temporary password for "${user.username}"; it must be changed at the next sign-in. Sessions ended.`;
      return reset.password === undefined
        ? lead
        : `${lead}\nThe password (shown this once; hand it over privately):\n\n    ${reset.password}\n`;
    },
  },
  unlock: {
    describe: (user) => `lift the sign-in lockout of "${user.username}"`,
    async run(deps, user) {
      await unlockUser(deps, HOST, null, user.id);
      return `Unlocked "${user.username}": its failed attempts are forgotten and the next sign-in is judged as usual.`;
    },
  },
  promote: {
    describe: (user) => `make "${user.username}" an administrator`,
    async run(deps, user) {
      if (user.role === 'admin') return `"${user.username}" is already an administrator: nothing changed.`;
      await updateUser(deps, HOST, null, user.id, { role: 'admin' });
      return `"${user.username}" is now an administrator.`;
    },
  },
};

/** The first line of a piped standard input; null when it is empty. */
async function firstLine(input: NodeJS.ReadStream): Promise<string | null> {
  let text = '';
  for await (const chunk of input) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  return line === '' ? null : line;
}

/** The password set-password sets: piped in, or null to generate one. Checked before the store is opened. */
async function chosenPassword(username: string, generate: boolean): Promise<string | null> {
  if (generate || process.stdin.isTTY) return null;
  const password = await firstLine(process.stdin);
  const problem = password === null ? null : passwordProblem(password, { username });
  if (problem) throw new Error(`The password from standard input is refused: ${problem}`);
  return password;
}

async function confirm(user: UserRecord, what: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new Error(
      `Refusing to ${what} without confirmation: there is no terminal to ask on. Add --yes to confirm on the command line.`,
    );
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(`This will ${what}.\n`);
    const answer = await prompt.question('Type the username to confirm: ');
    if (answer.trim().toLowerCase() !== user.username.toLowerCase()) {
      throw new Error('The name typed does not match: nothing changed.');
    }
  } finally {
    prompt.close();
  }
}

/** One account's line of list-users: what an operator recovering access needs to know about it. */
function accountRow(user: UserRecord, now: number): string[] {
  const { lockout, mustChangePassword } = adminView(user, now);
  const mfa =
    user.mfa.type === 'none'
      ? 'none'
      : user.mfa.enrolled
        ? `${user.mfa.type} set up`
        : `${user.mfa.type} not set up`;
  const locked = lockout.needsAdminUnlock
    ? 'until unlocked'
    : lockout.lockedUntil
      ? `until ${lockout.lockedUntil}`
      : 'no';
  return [user.username, user.role, mfa, locked, mustChangePassword ? 'yes' : 'no'];
}

/** The accounts as a table, sorted by username, columns padded to their widest cell. */
export function accountTable(users: UserRecord[], now: number): string {
  const rows = [
    ['USERNAME', 'ROLE', 'MFA', 'LOCKED', 'MUST CHANGE PASSWORD'],
    ...users.toSorted((a, b) => a.username.localeCompare(b.username)).map((user) => accountRow(user, now)),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The store the server's configuration selects, opened; a lowdb one only if the server is stopped. */
async function openStore(config: Config): Promise<Store> {
  if (!config.database) {
    const dataDir = resolve(config.dataDir);
    // Opening would create an empty store: a wrong DATA_DIR must not look like "no such user".
    if (!statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`There is no store at ${dataDir}: set DATA_DIR to the server's data directory.`);
    }
  }
  const { store } = storeFor(config, await openingKeys(config));
  try {
    await store.open();
  } catch (error) {
    if (error instanceof DirectoryInUseError) {
      throw new Error(
        `${error.message} Stop the server first: with the lowdb store only one process may open the data.`,
      );
    }
    throw error;
  }
  return store;
}

async function listUsers(config: Config): Promise<void> {
  const store = await openStore(config);
  try {
    process.stdout.write(`${accountTable(await store.listUsers(), Date.now())}\n`);
  } finally {
    await store.close();
  }
}

run(async () => {
  const { values, positionals } = parseCommandWithOperands(USAGE, {
    yes: { type: 'boolean', short: 'y', default: false },
    generate: { type: 'boolean', default: false },
  });
  const [name, username, ...extra] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (name === 'list-users') {
    if (username !== undefined || values.yes || values.generate) {
      fail(`list-users takes no username or option.\n\n${USAGE}`, 2);
    }
    await listUsers(loadConfig());
    return 0;
  }
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command || !username || extra.length > 0) {
    fail(`${name && !command ? `Unknown command "${name}".\n\n` : ''}${USAGE}`, 2);
  }

  const config = loadConfig();
  const password = name === 'set-password' ? await chosenPassword(username, values.generate) : null;
  const store = await openStore(config);
  try {
    const deps: Deps = {
      store,
      hasher: argon2Hasher(config.argon2),
      clock: systemClock,
      security: config.security,
    };
    const user = await store.findUserByUsername(username);
    if (!user) throw new Error(`There is no user named "${username}": nothing changed.`);
    await confirm(user, command.describe(user), values.yes);
    process.stdout.write(`${await command.run(deps, user, password)}\n`);
    if (name === 'set-password' && user.username === 'admin') {
      // The generated first password's file would now name a password that no longer works.
      await unlink(join(resolve(config.dataDir), 'initial-admin-password')).catch(() => undefined);
    }
    const { lockedUntil, needsAdminUnlock } = adminView(
      (await store.getUser(user.id)) ?? user,
      Date.now(),
    ).lockout;
    if (lockedUntil || needsAdminUnlock) {
      process.stdout.write(
        `"${user.username}" is locked out${needsAdminUnlock ? ' until an administrator unlocks it' : ` until ${lockedUntil}`}: npm run admin -- unlock ${user.username}\n`,
      );
    }
  } finally {
    await store.close();
  }
  return 0;
});
