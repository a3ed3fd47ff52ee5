/**
 * Break-glass recovery (`npm run admin`): each command run as a child process, exactly as an operator
 * would, against a store the real server built; then the real server is started again on that store
 * and the accounts are used over HTTP.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { runAdmin } from '../support/cli';
import { call, type RunningServer, startServer } from '../support/server';

const PASSWORDS = {
  alice: 'alice-password-123',
  bob: 'bob-password-123',
  carol: 'carol-password-123',
  dave: 'dave-password-123',
  erin: 'erin-password-123',
};
type Name = keyof typeof PASSWORDS;
/** A lock that would last the whole test unless lifted. */
const LOCKOUT = { MFA_LOCKOUT_ATTEMPTS: '3', MFA_LOCKOUT_MINUTES: '60' };

async function login(server: RunningServer, username: string, password: string) {
  return call(server.url, 'POST', '/api/auth/login', { body: { username, password } });
}

async function token(server: RunningServer, username: string, password: string): Promise<string> {
  const res = await login(server, username, password);
  expect(res.body.status, JSON.stringify(res.body)).toBe('ok');
  return res.body.token;
}

/** Every file under the store's directory with its content, to show a command left it as it was. */
async function storeFiles(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) =>
    entry.isFile(),
  );
  const files: Record<string, string> = {};
  for (const entry of names) {
    const path = join(entry.parentPath, entry.name);
    files[path] = await readFile(path, 'base64');
  }
  return files;
}

describe('npm run admin (break-glass on the server host)', () => {
  let dataDir: string;
  let server: RunningServer;
  let aliceSecret: string;
  let erinSecret: string;
  const ids = {} as Record<Name, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sparekey-admin-cli-'));
    server = await startServer({ dataDir, env: LOCKOUT });
    const admin = await token(server, 'admin', server.adminPassword);
    const policy = {
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: true, count: 5, warnWhenRemaining: 1 },
    };
    expect((await call(server.url, 'PUT', '/api/admin/policy', { token: admin, body: policy })).status).toBe(
      200,
    );
    for (const name of Object.keys(PASSWORDS) as Name[]) {
      const created = await call(server.url, 'POST', '/api/admin/users', {
        token: admin,
        body: { username: name, password: PASSWORDS[name] },
      });
      expect(created.status).toBe(201);
      ids[name] = created.body.user.id;
    }
    const configured = await call(server.url, 'PATCH', `/api/admin/users/${ids.alice}`, {
      token: admin,
      body: { mfa: { type: 'totp' } },
    });
    aliceSecret = configured.body.totp.secret;
    const erin = await call(server.url, 'PATCH', `/api/admin/users/${ids.erin}`, {
      token: admin,
      body: { mfa: { type: 'totp' } },
    });
    erinSecret = erin.body.totp.secret;
    // erin locks her MFA step: three wrong codes (MFA_LOCKOUT_ATTEMPTS=3); then even a right one is refused.
    const challenge = (await login(server, 'erin', PASSWORDS.erin)).body.mfaToken;
    const wrong = currentTotp(erinSecret, Date.now() + 10 * 60_000);
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (
          await call(server.url, 'POST', '/api/auth/mfa', {
            body: { mfaToken: challenge, method: 'totp', code: wrong },
          })
        ).status,
      );
    }
    expect(statuses).toEqual([401, 401, 429]);
    const right = await call(server.url, 'POST', '/api/auth/mfa', {
      body: { mfaToken: challenge, method: 'totp', code: currentTotp(erinSecret, Date.now()) },
    });
    expect(right.status).toBe(429);
    // Before: alice needs her authenticator, dave is no administrator.
    expect((await login(server, 'alice', PASSWORDS.alice)).body.status).toBe('mfa_required');
    const dave = await token(server, 'dave', PASSWORDS.dave);
    expect((await call(server.url, 'GET', '/api/admin/users', { token: dave })).status).toBe(403);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses while the server holds the data directory, and says so', async () => {
    const run = await runAdmin(dataDir, ['promote', 'dave', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/in use by process \d+/);
    expect(run.stderr).toMatch(/Stop the server first/);
    const admin = await token(server, 'admin', server.adminPassword);
    const users = await call(server.url, 'GET', '/api/admin/users', { token: admin });
    expect(users.body.users.find((u: { username: string }) => u.username === 'dave').role).toBe('user');
  });

  it('list-users refuses too while the server holds the data directory (lowdb: one process at a time)', async () => {
    const run = await runAdmin(dataDir, ['list-users']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/in use by process \d+.*Stop the server first/);
  });

  describe('with the server stopped', () => {
    beforeAll(async () => {
      expect(await server.stop({ keepData: true })).toBe(0);
    });

    it('list-users lists every account: role, MFA set up or not, locked or not, must change password', async () => {
      const before = await storeFiles(dataDir);
      const run = await runAdmin(dataDir, ['list-users']);
      expect(run.code, run.stderr).toBe(0);
      const rows = run.stdout.trimEnd().split('\n');
      expect(rows[0]).toMatch(/^USERNAME +ROLE +MFA +LOCKED +MUST CHANGE PASSWORD$/);
      const row = (name: string) => rows.find((line) => line.startsWith(`${name} `))?.split(/ {2,}/);
      expect(row('admin')?.slice(0, 2)).toEqual(['admin', 'admin']);
      expect(row('alice')).toEqual(['alice', 'user', 'totp set up', 'no', 'no']);
      expect(row('bob')).toEqual(['bob', 'user', 'none', 'no', 'no']);
      // erin locked her MFA step in beforeAll: locked for the hour MFA_LOCKOUT_MINUTES gives.
      expect(row('erin')?.[3]).toMatch(/^until \d{4}-\d\d-\d\dT/);
      expect(rows).toHaveLength(7);
      // Read-only: not a byte of the store changed.
      expect(await storeFiles(dataDir)).toEqual(before);
    });

    it('list-users takes no username', async () => {
      const run = await runAdmin(dataDir, ['list-users', 'alice']);
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')[0]).toBe('list-users takes no username or option.');
    });

    it('refuses without --yes when there is no terminal to confirm on', async () => {
      const run = await runAdmin(dataDir, ['promote', 'bob']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/no terminal to ask on.*--yes/);
    });

    it('on a terminal without --yes, asks for the username and goes ahead only when it matches', async () => {
      const wrong = await runAdmin(dataDir, ['promote', 'bob'], { input: 'bobby\n', terminal: true });
      expect(wrong.code).toBe(1);
      expect(wrong.stdout).toContain('This will make "bob" an administrator.');
      expect(wrong.stdout).toContain('Type the username to confirm:');
      expect(wrong.stdout).toContain('The name typed does not match: nothing changed.');
      const right = await runAdmin(dataDir, ['set-password', 'carol'], { input: 'carol\n', terminal: true });
      expect(right.code).toBe(0);
      // On a terminal the password is generated and shown.
      expect(right.stdout).toMatch(/^ {4}[A-Za-z0-9_-]{20}\r?$/m);
    });

    it('refuses an unknown user with a clear error', async () => {
      const run = await runAdmin(dataDir, ['reset-mfa', 'nobody', '--yes']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('There is no user named "nobody": nothing changed.');
    });

    it('refuses an unknown command and a missing username with the usage', async () => {
      const unknown = await runAdmin(dataDir, ['demote', 'bob', '--yes']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('Unknown command "demote"');
      expect(unknown.stderr).toContain('reset-mfa <username>');
      const missing = await runAdmin(dataDir, ['promote', '--yes']);
      expect(missing.code).toBe(2);
    });

    it('refuses a piped password that breaks the password rule, before changing anything', async () => {
      const run = await runAdmin(dataDir, ['set-password', 'bob', '--yes'], { input: 'password1\n' });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/refused: This password is on a list of commonly used passwords/);
    });

    it('refuses a DATA_DIR that holds no store instead of creating one', async () => {
      const run = await runAdmin(join(dataDir, 'not-here'), ['promote', 'bob', '--yes']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/There is no store at .*not-here/);
    });

    it('runs each command', async () => {
      const reset = await runAdmin(dataDir, ['reset-mfa', 'alice', '--yes']);
      expect(reset.stderr).toBe('');
      expect(reset.code).toBe(0);
      expect(reset.stdout).toContain('Reset the MFA of "alice"');

      const piped = await runAdmin(dataDir, ['set-password', 'bob', '--yes'], {
        input: 'bob-temporary-pass\n',
      });
      expect(piped.code).toBe(0);
      expect(piped.stdout).not.toContain('bob-temporary-pass');

      const generated = await runAdmin(dataDir, ['set-password', 'carol', '--yes', '--generate']);
      expect(generated.code).toBe(0);
      expect(generated.stdout).toMatch(/^ {4}[A-Za-z0-9_-]{20}$/m);

      const promoted = await runAdmin(dataDir, ['promote', 'dave', '--yes']);
      expect(promoted.code).toBe(0);
      expect(promoted.stdout).toContain('"dave" is now an administrator.');

      // A command that leaves a lock in place says so, and names the one that lifts it.
      const stillLocked = await runAdmin(dataDir, ['set-password', 'erin', '--yes'], {
        input: `${PASSWORDS.erin}\n`,
      });
      expect(stillLocked.code).toBe(0);
      expect(stillLocked.stdout).toMatch(/"erin" is locked out until \S+: npm run admin -- unlock erin/);

      const unlocked = await runAdmin(dataDir, ['unlock', 'erin', '--yes']);
      expect(unlocked.code).toBe(0);
      expect(unlocked.stdout).toContain('Unlocked "erin"');
      expect(unlocked.stdout).not.toContain('locked out');
    });
  });

  describe('the server started again on the same store', () => {
    let carolPassword: string;

    beforeAll(async () => {
      // The generated password is read back from a fresh run, so this block does not depend on the last.
      const generated = await runAdmin(dataDir, ['set-password', 'carol', '--yes']);
      expect(generated.code).toBe(0);
      carolPassword = generated.stdout.match(/^ {4}([A-Za-z0-9_-]{20})$/m)?.[1] ?? '';
      server = await startServer({ dataDir, env: LOCKOUT });
    }, 60_000);

    it('reset-mfa: alice signs in with her password alone, then enrols a new authenticator', async () => {
      const first = await login(server, 'alice', PASSWORDS.alice);
      expect(first.body.status).toBe('mfa_enroll');
      expect(first.body.secret).not.toBe(aliceSecret);
      // The old authenticator is gone.
      const old = await call(server.url, 'POST', '/api/auth/enroll', {
        body: { mfaToken: first.body.mfaToken, code: currentTotp(aliceSecret, Date.now()) },
      });
      expect(old.status).toBe(401);
      const again = await login(server, 'alice', PASSWORDS.alice);
      const enrolled = await call(server.url, 'POST', '/api/auth/enroll', {
        body: { mfaToken: again.body.mfaToken, code: currentTotp(again.body.secret, Date.now()) },
      });
      expect(enrolled.status).toBe(200);
      expect(enrolled.body.user.username).toBe('alice');
    });

    it('set-password from standard input: bob signs in with it and must change it first', async () => {
      expect((await login(server, 'bob', PASSWORDS.bob)).status).toBe(401);
      const session = await token(server, 'bob', 'bob-temporary-pass');
      const me = await call(server.url, 'GET', '/api/me', { token: session });
      expect(me.body.mustChangePassword).toBe(true);
      const blocked = await call(server.url, 'GET', '/api/me/backup-codes', { token: session });
      expect(blocked.body.error?.code).toBe('password_change_required');
      const changed = await call(server.url, 'POST', '/api/me/password', {
        token: session,
        body: { currentPassword: 'bob-temporary-pass', newPassword: 'bob-own-new-pass' },
      });
      expect(changed.status).toBe(200);
      await token(server, 'bob', 'bob-own-new-pass');
    });

    it('set-password generated: carol signs in with the printed password', async () => {
      expect(carolPassword).toHaveLength(20);
      const session = await token(server, 'carol', carolPassword);
      const me = await call(server.url, 'GET', '/api/me', { token: session });
      expect(me.body.mustChangePassword).toBe(true);
    });

    it('promote: dave reaches the admin API', async () => {
      const dave = await token(server, 'dave', PASSWORDS.dave);
      expect((await call(server.url, 'GET', '/api/admin/users', { token: dave })).status).toBe(200);
    });

    it('unlock: erin, locked out before, signs in with her authenticator', async () => {
      const challenge = (await login(server, 'erin', PASSWORDS.erin)).body.mfaToken;
      const res = await call(server.url, 'POST', '/api/auth/mfa', {
        body: { mfaToken: challenge, method: 'totp', code: currentTotp(erinSecret, Date.now()) },
      });
      expect(res.status).toBe(200);
      expect(res.body.user.username).toBe('erin');
    });

    it('each change is in the audit log as made on the host, and nothing refused left a trace', async () => {
      const admin = await token(server, 'admin', server.adminPassword);
      const res = await call(server.url, 'GET', '/api/admin/audit?limit=500', { token: admin });
      const host = (
        res.body.events as {
          type: string;
          actor: unknown;
          subject: { username: string } | null;
          details?: Record<string, unknown>;
        }[]
      )
        .filter((e) => e.details?.via === 'host')
        .map((e) => ({ type: e.type, actor: e.actor, subject: e.subject?.username }))
        .reverse();
      expect(host).toEqual([
        { type: 'password_reset', actor: null, subject: 'carol' },
        { type: 'mfa_configured', actor: null, subject: 'alice' },
        { type: 'password_reset', actor: null, subject: 'bob' },
        { type: 'password_reset', actor: null, subject: 'carol' },
        { type: 'user_updated', actor: null, subject: 'dave' },
        { type: 'password_reset', actor: null, subject: 'erin' },
        { type: 'user_unlocked', actor: null, subject: 'erin' },
        { type: 'password_reset', actor: null, subject: 'carol' },
      ]);
      // The refused promotion of bob (no --yes) changed nothing.
      const users = await call(server.url, 'GET', '/api/admin/users', { token: admin });
      const roles = Object.fromEntries(
        (users.body.users as { username: string; role: string }[]).map((u) => [u.username, u.role]),
      );
      expect(roles).toMatchObject({ alice: 'user', bob: 'user', carol: 'user', dave: 'admin', erin: 'user' });
    });
  });
});

describe('npm run admin -- set-password admin, after a first start with a generated password', () => {
  it('deletes DATA_DIR/initial-admin-password, which would name a password that no longer works', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-admin-cli-initial-'));
    try {
      const server = await startServer({ dataDir, env: { BOOTSTRAP_ADMIN_PASSWORD: '' } });
      expect(await server.stop({ keepData: true })).toBe(0);
      const file = join(dataDir, 'initial-admin-password');
      expect(existsSync(file)).toBe(true);
      const run = await runAdmin(dataDir, ['set-password', 'admin', '--yes', '--generate']);
      expect(run.code).toBe(0);
      expect(existsSync(file)).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
