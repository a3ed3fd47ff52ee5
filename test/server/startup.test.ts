/**
 * `npm start` that cannot start: each failure is one line naming the setting, exit 1, and nothing is
 * written (no store, no admin, no password file) before the checks pass. And the files holding a
 * secret it writes: the generated first admin password never goes through a planted symlink.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../support/certificate';
import { call, freePort, runServerToExit, startServer } from '../support/server';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sparekey-startup-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The server's output is a single line saying `expected`: no stack trace, no half start. */
function refusedInOneLine(result: { code: number | null; output: string }, expected: string) {
  expect(result.code, result.output).toBe(1);
  const lines = result.output.trim().split('\n');
  expect(lines, result.output).toHaveLength(1);
  expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 'error', msg: 'cannot start' });
  expect(result.output).toContain(expected);
}

describe('start-up failures', () => {
  it('a taken PORT: one line naming it, and no data directory, admin or password file', async () => {
    const taken: Server = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = (taken.address() as { port: number }).port;
    try {
      const dataDir = join(dir, 'port-taken');
      // No BOOTSTRAP_ADMIN_PASSWORD: a start would generate a password and write it to a file.
      const result = await runServerToExit({
        PORT: String(port),
        DATA_DIR: dataDir,
        BOOTSTRAP_ADMIN_PASSWORD: '',
      });
      refusedInOneLine(result, `PORT ${port} is already in use on 127.0.0.1.`);
      expect(result.output).not.toContain('Created the account');
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((done) => taken.close(done));
    }
  });

  it('a taken METRICS_PORT: one line naming it, and no data directory, admin or password file', async () => {
    const taken: Server = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = (taken.address() as { port: number }).port;
    try {
      const dataDir = join(dir, 'metrics-port-taken');
      const result = await runServerToExit({
        METRICS_PORT: String(port),
        DATA_DIR: dataDir,
        BOOTSTRAP_ADMIN_PASSWORD: '',
      });
      expect(result.code, result.output).toBe(1);
      const lines = result.output.trim().split('\n');
      expect(lines, result.output).toHaveLength(1);
      expect(lines[0]).toContain('The metrics port cannot be opened (METRICS_HOST, METRICS_PORT)');
      expect(result.output).not.toContain('Created the account');
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((done) => taken.close(done));
    }
  });

  it('TLS files missing, unreadable, not a certificate and key, or not a pair: one line naming the variable', async () => {
    const { cert, key } = makeCertificate(await mkdtemp(join(dir, 'tls-')));
    const { key: otherKey } = makeCertificate(await mkdtemp(join(dir, 'tls-other-')));
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a key\n');
    const cases: [Record<string, string>, string][] = [
      [
        { TLS_CERT_FILE: join(dir, 'missing.pem'), TLS_KEY_FILE: key },
        `TLS_CERT_FILE ${join(dir, 'missing.pem')} cannot be read: ENOENT`,
      ],
      [{ TLS_CERT_FILE: cert, TLS_KEY_FILE: dir }, `TLS_KEY_FILE ${dir} cannot be read: EISDIR`],
      [
        { TLS_CERT_FILE: cert, TLS_KEY_FILE: garbage },
        `TLS_KEY_FILE ${garbage} does not hold a PEM private key`,
      ],
      [
        { TLS_CERT_FILE: garbage, TLS_KEY_FILE: key },
        `TLS_CERT_FILE ${garbage} does not hold a PEM certificate`,
      ],
      [
        { TLS_CERT_FILE: cert, TLS_KEY_FILE: otherKey },
        `TLS_CERT_FILE ${cert} and TLS_KEY_FILE ${otherKey} do not match: the certificate is for another key.`,
      ],
    ];
    for (const [tls, expected] of cases) {
      const dataDir = join(dir, 'tls-data');
      refusedInOneLine(
        await runServerToExit({ ...tls, DATA_DIR: dataDir, BOOTSTRAP_ADMIN_PASSWORD: '' }),
        expected,
      );
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  it('an encrypted TLS key with a wrong passphrase, or none: one line naming the setting, never the passphrase', async () => {
    const folder = await mkdtemp(join(dir, 'tls-encrypted-'));
    const right = join(folder, 'right-passphrase');
    await writeFile(right, 'the-right-key-passphrase\n', { mode: 0o600 });
    const wrong = join(folder, 'wrong-passphrase');
    await writeFile(wrong, 'a-wrong-key-passphrase\n', { mode: 0o600 });
    const { cert, key } = makeCertificate(folder, { passphraseFile: right });
    const files = { TLS_CERT_FILE: cert, TLS_KEY_FILE: key };
    const cases: [Record<string, string>, string][] = [
      [
        { ...files, TLS_KEY_PASSPHRASE_FILE: wrong },
        `TLS_KEY_PASSPHRASE_FILE does not decrypt TLS_KEY_FILE ${key}`,
      ],
      [
        { ...files, TLS_KEY_PASSPHRASE: 'a-wrong-key-passphrase' },
        `TLS_KEY_PASSPHRASE does not decrypt TLS_KEY_FILE ${key}`,
      ],
      [files, `TLS_KEY_FILE ${key} is encrypted: give its passphrase in TLS_KEY_PASSPHRASE_FILE`],
      [{ TLS_KEY_PASSPHRASE_FILE: right }, 'TLS_KEY_PASSPHRASE_FILE is set but TLS_KEY_FILE is not'],
    ];
    for (const [env, expected] of cases) {
      const dataDir = join(dir, 'tls-encrypted-data');
      const result = await runServerToExit({ ...env, DATA_DIR: dataDir, BOOTSTRAP_ADMIN_PASSWORD: '' });
      refusedInOneLine(result, expected);
      expect(result.output).not.toContain('key-passphrase');
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  it('DATA_DIR that is a file, or that other users may write to: one line naming it, nothing written', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory\n');
    refusedInOneLine(await runServerToExit({ DATA_DIR: file }), `DATA_DIR ${file} is not a directory.`);
    expect(await readFile(file, 'utf8')).toBe('not a directory\n');

    const shared = join(dir, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o777);
    refusedInOneLine(
      await runServerToExit({ DATA_DIR: shared, BOOTSTRAP_ADMIN_PASSWORD: '' }),
      'other users can write to that directory (mode 0777)',
    );
    expect(await readdir(shared)).toEqual([]);
  });
});

describe('a database off the loopback without sslmode', () => {
  it('is warned about at start in one line naming DATABASE_URL, without its password', async () => {
    // An unresolvable name: the warning comes before the connection, which then fails in one line.
    const result = await runServerToExit({
      DATABASE_URL: 'postgres://sk:s3cret-pw@db.invalid:5432/sparekey',
      DATA_DIR: join(dir, 'remote-db'),
    });
    const lines = result.output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'insecure setting' });
    expect(lines[0].warning).toMatch(/^DATABASE_URL reaches db\.invalid, not the loopback, without sslmode/);
    expect(result.output).not.toContain('s3cret-pw');
    expect(result.code).toBe(1);
  });
});

describe('the generated first admin password file', () => {
  it('replaces a planted symlink instead of writing through it: the target is untouched, the file is 0600', async () => {
    const dataDir = await mkdtemp(join(dir, 'planted-'));
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n', { mode: 0o644 });
    const file = join(dataDir, 'initial-admin-password');
    await symlink(victim, file);
    const server = await startServer({ dataDir, env: { BOOTSTRAP_ADMIN_PASSWORD: '' } });
    try {
      const password = /Its password .*\n\n {4}(\S+)\n/.exec(server.output())?.[1];
      expect(password).toBeDefined();
      expect(await readFile(victim, 'utf8')).toBe('precious\n');
      expect((await stat(victim)).mode & 0o777).toBe(0o644);
      const written = await lstat(file);
      expect(written.isFile()).toBe(true);
      expect(written.mode & 0o777).toBe(0o600);
      expect(written.uid).toBe(process.getuid?.());
      expect(await readFile(file, 'utf8')).toBe(`${password}\n`);
    } finally {
      await server.stop({ keepData: true });
    }
  });
});

describe('BOOTSTRAP_ADMIN_PASSWORD_FILE', () => {
  it('a real start takes the first admin password from the file, never printing it; with the variable too it refuses in one line', async () => {
    const secret = join(dir, 'admin-password');
    await writeFile(secret, 'passphrase-from-a-file-77\n', { mode: 0o600 });
    const server = await startServer({
      dataDir: await mkdtemp(join(dir, 'from-file-')),
      env: { BOOTSTRAP_ADMIN_PASSWORD: '', BOOTSTRAP_ADMIN_PASSWORD_FILE: secret },
    });
    try {
      const login = await call(server.url, 'POST', '/api/auth/login', {
        body: { username: 'admin', password: 'passphrase-from-a-file-77' },
      });
      expect(login.body.status, JSON.stringify(login.body)).toBe('ok');
      expect(server.output()).not.toContain('passphrase-from-a-file-77');
      expect(server.output()).not.toContain('Created the account "admin". Its password');
    } finally {
      await server.stop();
    }
    const both = join(dir, 'both');
    refusedInOneLine(
      await runServerToExit({ DATA_DIR: both, BOOTSTRAP_ADMIN_PASSWORD_FILE: secret }),
      'Set BOOTSTRAP_ADMIN_PASSWORD or BOOTSTRAP_ADMIN_PASSWORD_FILE, not both.',
    );
    expect(existsSync(both)).toBe(false);
  }, 60_000);
});

/** A real start at LOG_LEVEL on a known port (at warn the "listening" line is not written), then SIGTERM: everything it wrote. */
async function outputAtLevel(level: string, env: Record<string, string> = {}): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: join(import.meta.dirname, '../..'),
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: level, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise((done) => child.on('close', done));
  const deadline = Date.now() + 30_000;
  while (
    !(await fetch(`http://127.0.0.1:${port}/healthz/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no start:\n${output}`);
    await new Promise((wait) => setTimeout(wait, 200));
  }
  child.kill('SIGTERM');
  await exited;
  return output;
}

describe('LOG_LEVEL', () => {
  it('warn: a real start and stop write no info line; debug adds the settings, secrets masked', async () => {
    // A set storage key: a generated one is announced once on the terminal, like a generated password.
    const quiet = await outputAtLevel('warn', {
      DATA_DIR: await mkdtemp(join(dir, 'warn-')),
      BOOTSTRAP_ADMIN_PASSWORD: 'a-warn-level-passphrase-9',
      STORAGE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    });
    expect(quiet).toBe('');
    const storageKey = randomBytes(32).toString('base64');
    const chatty = await outputAtLevel('debug', {
      DATA_DIR: await mkdtemp(join(dir, 'debug-')),
      BOOTSTRAP_ADMIN_PASSWORD: 'a-debug-level-passphrase-9',
      STORAGE_ENCRYPTION_KEY: storageKey,
    });
    const lines = chatty
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ level: 'debug', msg: 'settings', LOG_LEVEL: 'debug', store: 'lowdb' });
    expect(lines.map((line) => line.msg)).toContain('listening');
    expect(chatty).not.toContain('a-debug-level-passphrase-9');
    expect(chatty).not.toContain(storageKey);
    expect(lines[0].STORAGE_ENCRYPTION_KEY).toMatch(/^\*{8} \(set; key id [0-9a-f]{32}\)$/);
  }, 90_000);

  it('a bad LOG_LEVEL: one line naming it, nothing written', async () => {
    const dataDir = join(dir, 'bad-level');
    refusedInOneLine(
      await runServerToExit({ DATA_DIR: dataDir, LOG_LEVEL: 'verbose' }),
      'LOG_LEVEL must be one of error, warn, info, debug, not \\"verbose\\".',
    );
    expect(existsSync(dataDir)).toBe(false);
  });
});
