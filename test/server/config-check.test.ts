/**
 * `sparekey config check`, run as an operator runs it: the real command through server/sparekey.ts.
 * A good configuration prints its effective settings with every secret masked; a bad one is one line
 * naming the setting, exit 1; and nothing is ever written (no DATA_DIR created).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../support/certificate';
import { runScript } from '../support/cli';

/** A storage key for the configurations that need one (with DATABASE_URL). */
const STORAGE_KEY = 'Y29uZmlnIGNoZWNrIHRlc3Qga2V5OyBub3QgYSByZWFsIG9uZQ==';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sparekey-config-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Only the variables given: whatever the test runner's environment holds must not leak in. */
const configCheck = (env: Record<string, string>, args: string[] = []) =>
  runScript('server/sparekey.ts', ['config', 'check', ...args], {
    env: {
      DATABASE_URL: '',
      DATABASE_URL_FILE: '',
      BOOTSTRAP_ADMIN_PASSWORD: '',
      BOOTSTRAP_ADMIN_PASSWORD_FILE: '',
      STORAGE_ENCRYPTION_KEY: '',
      STORAGE_ENCRYPTION_KEY_FILE: '',
      TLS_KEY_PASSPHRASE: '',
      TLS_KEY_PASSPHRASE_FILE: '',
      PUBLIC_URL: '',
      HOST: '',
      LOG_LEVEL: '',
      ...env,
    },
  });

describe('sparekey config check', () => {
  it('prints the effective settings with the database password and the admin password masked, and writes nothing', async () => {
    const dataDir = join(dir, 'not-yet');
    const result = await configCheck({
      DATA_DIR: dataDir,
      DATABASE_URL: 'postgres://sparekey:s3cret-db-pw@127.0.0.1:5432/sparekey',
      BOOTSTRAP_ADMIN_PASSWORD: 'a-long-Bootstrap-passphrase-42',
      STORAGE_ENCRYPTION_KEY: STORAGE_KEY,
      SESSION_IDLE_MINUTES: '20',
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('DATABASE_URL=postgres://sparekey:********@127.0.0.1:5432/sparekey\n');
    expect(result.stdout).toContain('store=postgresql\n');
    expect(result.stdout).toContain('BOOTSTRAP_ADMIN_PASSWORD=******** (set)\n');
    expect(result.stdout).toContain('SESSION_IDLE_MINUTES=20\n');
    expect(result.stdout).toContain(`DATA_DIR=${dataDir}\n`);
    expect(result.stdout).toContain('The configuration is valid.');
    expect(result.stdout).not.toContain('s3cret-db-pw');
    expect(result.stdout).not.toContain('a-long-Bootstrap-passphrase-42');
    expect(result.stdout).toMatch(/\nSTORAGE_ENCRYPTION_KEY=\*{8} \(set; key id [0-9a-f]{32}\)\n/);
    expect(result.stdout).not.toContain(STORAGE_KEY);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('the storage key: required with DATABASE_URL, off the loopback or in production; refused unless 32 bytes', async () => {
    const dataDir = join(dir, 'no-key');
    const cases: [Record<string, string>, string][] = [
      [
        { DATABASE_URL: 'postgres://127.0.0.1/sparekey' },
        'DATABASE_URL (every instance must hold the same key)',
      ],
      [{ NODE_ENV: 'production' }, 'NODE_ENV=production'],
      [{ HOST: '0.0.0.0', ALLOW_INSECURE_HTTP: '1' }, 'HOST 0.0.0.0 (off the loopback)'],
    ];
    for (const [env, why] of cases) {
      const result = await configCheck({ DATA_DIR: dataDir, ...env });
      expect(result.code, why).toBe(1);
      expect(result.stderr).toBe(
        `STORAGE_ENCRYPTION_KEY or STORAGE_ENCRYPTION_KEY_FILE is required with ${why}: make one with openssl rand -base64 32 > storage.key; chmod 600 storage.key, and keep it apart from backups.\n`,
      );
    }
    const short = await configCheck({ DATA_DIR: dataDir, STORAGE_ENCRYPTION_KEY: 'dG9vIHNob3J0' });
    expect(short.code).toBe(1);
    expect(short.stderr).toBe(
      'STORAGE_ENCRYPTION_KEY must be at least 32 random bytes in base64 or hex (openssl rand -base64 32 > storage.key; chmod 600 storage.key): it decodes to 9 bytes, fewer than 32.\n',
    );
    const keyFile = join(dir, 'storage-key-file');
    await writeFile(keyFile, `${STORAGE_KEY}\n`, { mode: 0o600 });
    const fromFile = await configCheck({
      DATA_DIR: dataDir,
      NODE_ENV: 'production',
      STORAGE_ENCRYPTION_KEY_FILE: keyFile,
    });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).not.toContain(STORAGE_KEY);
    // Without any: the lowdb store on the loopback generates one at the first start.
    const newcomer = await configCheck({ DATA_DIR: dataDir });
    expect(newcomer.stdout).toContain(
      'STORAGE_ENCRYPTION_KEY=(not set: DATA_DIR/storage.key, generated at the first start)\n',
    );
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a secret from a *_FILE is masked like the variable; its content is never printed', async () => {
    const urlFile = join(dir, 'database-url');
    await writeFile(urlFile, 'postgres://sparekey:pw-in-a-file@127.0.0.1/sparekey\n', { mode: 0o600 });
    const result = await configCheck({
      DATA_DIR: join(dir, 'from-file'),
      DATABASE_URL_FILE: urlFile,
      STORAGE_ENCRYPTION_KEY: STORAGE_KEY,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('DATABASE_URL=postgres://sparekey:********@127.0.0.1/sparekey\n');
    expect(result.stdout).not.toContain('pw-in-a-file');
    const both = await configCheck({ DATABASE_URL_FILE: urlFile, DATABASE_URL: 'postgres://127.0.0.1/x' });
    expect(both.code).toBe(1);
    expect(both.stderr).toBe('Set DATABASE_URL or DATABASE_URL_FILE, not both.\n');
  });

  it('an encrypted TLS key: the passphrase opens it and is masked; a wrong one is one line naming the setting', async () => {
    const folder = await mkdtemp(join(dir, 'tls-encrypted-'));
    const passphraseFile = join(folder, 'passphrase');
    await writeFile(passphraseFile, 'tls-key-passphrase-in-a-file\n', { mode: 0o600 });
    const { cert, key } = makeCertificate(folder, { passphraseFile });
    const files = { DATA_DIR: join(dir, 'tls-encrypted-data'), TLS_CERT_FILE: cert, TLS_KEY_FILE: key };
    const fromFile = await configCheck({ ...files, TLS_KEY_PASSPHRASE_FILE: passphraseFile });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toContain('TLS_KEY_PASSPHRASE=******** (set, from TLS_KEY_PASSPHRASE_FILE)\n');
    expect(fromFile.stdout).not.toContain('tls-key-passphrase-in-a-file');
    const fromVariable = await configCheck({ ...files, TLS_KEY_PASSPHRASE: 'tls-key-passphrase-in-a-file' });
    expect(fromVariable.code, fromVariable.stderr).toBe(0);
    expect(fromVariable.stdout).toContain('TLS_KEY_PASSPHRASE=******** (set, from TLS_KEY_PASSPHRASE)\n');
    expect(fromVariable.stdout).not.toContain('tls-key-passphrase-in-a-file');
    const wrong = await configCheck({ ...files, TLS_KEY_PASSPHRASE: 'not-the-passphrase' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toMatch(new RegExp(`^TLS_KEY_PASSPHRASE does not decrypt TLS_KEY_FILE ${key} \\(`));
    expect(wrong.stderr).not.toContain('not-the-passphrase');
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a bad setting: exit 1 and one line naming it, nothing written', async () => {
    const dataDir = join(dir, 'bad');
    const cases: [Record<string, string>, string][] = [
      [{ PORT: 'eighty' }, 'PORT must be a whole number from 0 to 65535, not "eighty".'],
      [
        { EXTENSION_DIR: join(dir, 'no-such-folder') },
        `EXTENSION_DIR ${join(dir, 'no-such-folder')} cannot be read (ENOENT)`,
      ],
      [
        { TLS_CERT_FILE: join(dir, 'missing.pem'), TLS_KEY_FILE: join(dir, 'missing.key') },
        `TLS_CERT_FILE ${join(dir, 'missing.pem')} cannot be read: ENOENT`,
      ],
    ];
    for (const [env, expected] of cases) {
      const result = await configCheck({ DATA_DIR: dataDir, ...env });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1);
      expect(result.stderr).toContain(expected);
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  it('runs the start-up checks serve runs: a shared DATA_DIR and a mismatched TLS pair are refused', async () => {
    const shared = join(dir, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o777);
    const sharedResult = await configCheck({ DATA_DIR: shared });
    expect(sharedResult.code).toBe(1);
    expect(sharedResult.stderr).toMatch(/^DATA_DIR: .*other users can write to that directory \(mode 0777\)/);

    const { cert } = makeCertificate(await mkdtemp(join(dir, 'tls-')));
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a key\n');
    const tls = await configCheck({
      DATA_DIR: join(dir, 'tls-data'),
      TLS_CERT_FILE: cert,
      TLS_KEY_FILE: garbage,
    });
    expect(tls.code).toBe(1);
    expect(tls.stderr).toMatch(/^TLS_KEY_FILE .*garbage\.pem does not hold a PEM private key/);
    expect(tls.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--help describes it; an unknown option is refused with exit 2', async () => {
    const help = await configCheck({}, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: sparekey config check\n/);
    const unknown = await configCheck({}, ['--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n')[0]).toContain("Unknown option '--frobnicate'");
  });
});
