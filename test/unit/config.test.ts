import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config';
import { jsonLogger, type LogLevel } from '../../server/log';

describe('configuration from the environment', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      dataDir: './data',
      bootstrapAdminPassword: null,
    });
    expect(config.argon2).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    expect(config.security).toMatchObject({
      sessionIdleMs: 30 * 60_000,
      sessionMaxMs: 12 * 3_600_000,
      mfaTokenMs: 5 * 60_000,
      mfaLockoutAttempts: 5,
      ipFailureLimit: 100,
      signInBodyTimeoutMs: 5000,
      changeLimitPerUser: 3,
      changeLimitPerAddress: 20,
      https: false,
    });
  });

  it('takes SIGN_IN_BODY_TIMEOUT_MS and the change limits, and refuses a value out of range naming it', () => {
    expect(loadConfig({ SIGN_IN_BODY_TIMEOUT_MS: '2000' }).security.signInBodyTimeoutMs).toBe(2000);
    const limits = loadConfig({ CHANGE_LIMIT_PER_USER: '10', CHANGE_LIMIT_PER_ADDRESS: '500' }).security;
    expect([limits.changeLimitPerUser, limits.changeLimitPerAddress]).toEqual([10, 500]);
    expect(() => loadConfig({ CHANGE_LIMIT_PER_USER: '0' })).toThrow(/CHANGE_LIMIT_PER_USER/);
    expect(() => loadConfig({ SIGN_IN_BODY_TIMEOUT_MS: '0' })).toThrow(
      'SIGN_IN_BODY_TIMEOUT_MS must be a whole number from 100 to 60000, not "0".',
    );
  });

  it('honours PORT, HOST, DATA_DIR and BOOTSTRAP_ADMIN_PASSWORD', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '::1',
      DATA_DIR: '/srv/sk',
      BOOTSTRAP_ADMIN_PASSWORD: 'pw-12345',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '::1',
      dataDir: '/srv/sk',
      bootstrapAdminPassword: 'pw-12345',
    });
  });

  it('refuses to listen off the loopback without TLS, and says why', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(ConfigError);
    expect(() => loadConfig({ HOST: '192.0.2.10' })).toThrow(/without TLS/);
    expect(loadConfig({ HOST: '0.0.0.0', ALLOW_INSECURE_HTTP: '1' }).host).toBe('0.0.0.0');
    expect(
      loadConfig({ HOST: '0.0.0.0', TLS_CERT_FILE: 'c.pem', TLS_KEY_FILE: 'k.pem' }).security.https,
    ).toBe(true);
  });

  it('takes PUBLIC_URL as the public address: https behind a proxy makes cookies Secure and sends HSTS', () => {
    const behindProxy = loadConfig({ HOST: '0.0.0.0', PUBLIC_URL: 'https://sparekey.example/' });
    expect(behindProxy.publicUrl).toBe('https://sparekey.example');
    expect(behindProxy.security).toMatchObject({ publicUrl: 'https://sparekey.example', https: true });
  });

  it('refuses a PUBLIC_URL with a path, saying SpareKey must have an origin of its own', () => {
    for (const url of ['https://intranet.example/sparekey', 'https://intranet.example/sparekey/']) {
      expect(() => loadConfig({ PUBLIC_URL: url })).toThrow(
        /root of its origin.*https:\/\/intranet\.example/,
      );
    }
    expect(loadConfig({ PUBLIC_URL: 'https://intranet.example:8443/' }).security.publicUrl).toBe(
      'https://intranet.example:8443',
    );
  });

  it('without PUBLIC_URL the public address is the bound one', () => {
    expect(loadConfig({}).publicUrl).toBeNull();
    expect(loadConfig({ PORT: '9000' }).security.publicUrl).toBe('http://127.0.0.1:9000');
    expect(loadConfig({ HOST: '::1', PORT: '9000' }).security.publicUrl).toBe('http://[::1]:9000');
  });

  it('refuses an http PUBLIC_URL off the loopback, and PUBLIC_URL that is not an http(s) address', () => {
    expect(() => loadConfig({ PUBLIC_URL: 'http://sparekey.example' })).toThrow(/plain HTTP/);
    expect(
      loadConfig({ PUBLIC_URL: 'http://sparekey.example', ALLOW_INSECURE_HTTP: '1' }).security.https,
    ).toBe(false);
    expect(loadConfig({ PUBLIC_URL: 'http://localhost:8787' }).security.https).toBe(false);
    expect(() => loadConfig({ PUBLIC_URL: 'sparekey.example' })).toThrow(/PUBLIC_URL/);
    expect(() => loadConfig({ PUBLIC_URL: 'ftp://sparekey.example' })).toThrow(/PUBLIC_URL/);
    expect(() => loadConfig({ PUBLIC_URL: 'https://sparekey.example/?next=x' })).toThrow(/query/);
  });

  it('rejects nonsense values with the variable named', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ ARGON2_MEMORY_KIB: '1' })).toThrow(/ARGON2_MEMORY_KIB/);
    expect(() => loadConfig({ TLS_CERT_FILE: 'only-cert.pem' })).toThrow(/TLS_KEY_FILE/);
  });

  it('serves metrics only when METRICS_PORT is set, on the loopback unless METRICS_HOST says otherwise', () => {
    expect(loadConfig({}).metrics).toBeNull();
    expect(loadConfig({ METRICS_PORT: '9464' }).metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(loadConfig({ METRICS_PORT: '0' }).metrics).toEqual({ host: '127.0.0.1', port: 0 });
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }).metrics?.host).toBe('0.0.0.0');
    expect(() => loadConfig({ PORT: '8787', METRICS_PORT: '8787' })).toThrow(/METRICS_PORT must differ/);
    expect(() => loadConfig({ METRICS_PORT: 'on' })).toThrow(/METRICS_PORT/);
  });

  it('warns, naming DATABASE_URL and its host but never its password, of a database off the loopback without sslmode', () => {
    const remote = loadConfig({ DATABASE_URL: 'postgres://sk:s3cret-pw@db.internal:5432/sparekey' });
    expect(remote.warnings).toHaveLength(1);
    expect(remote.warnings[0]).toMatch(
      /^DATABASE_URL reaches db\.internal, not the loopback, without sslmode/,
    );
    expect(remote.warnings[0]).toContain('sslmode=verify-full');
    expect(remote.warnings[0]).not.toContain('s3cret-pw');
    expect(
      loadConfig({ DATABASE_URL: 'postgres://sk:pw@10.0.0.5/sk?sslmode=disable' }).warnings[0],
    ).toContain('with sslmode=disable');
    for (const quiet of [
      'postgres://sk:pw@db.internal/sk?sslmode=verify-full&sslrootcert=/etc/ca.pem',
      'postgres://sk:pw@db.internal/sk?ssl=true',
      'postgres://sk:pw@127.0.0.1:5432/sk',
      'postgresql://sk:pw@localhost/sk',
      'postgres://sk:pw@[::1]/sk',
      'postgres://sk@/sk?host=/run/postgresql',
    ]) {
      expect(loadConfig({ DATABASE_URL: quiet }).warnings, quiet).toEqual([]);
    }
    expect(loadConfig({}).warnings).toEqual([]);
  });
});

describe('secrets from files: DATABASE_URL_FILE, BOOTSTRAP_ADMIN_PASSWORD_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sparekey-config-secrets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const refusal = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('loadConfig accepted it');
  };

  it('reads each file once, its trailing newline removed, as if the variable held it', () => {
    const url = secretFile('db-url', 'postgres://sk:pw-from-file@127.0.0.1/sparekey\n');
    const password = secretFile('admin-pw', 'a-long-passphrase-from-a-file\r\n');
    const config = loadConfig({ DATABASE_URL_FILE: url, BOOTSTRAP_ADMIN_PASSWORD_FILE: password });
    expect(config.database?.url).toBe('postgres://sk:pw-from-file@127.0.0.1/sparekey');
    expect(config.bootstrapAdminPassword).toBe('a-long-passphrase-from-a-file');
    // Only the last newline goes: a password may end in spaces.
    const spaced = secretFile('spaced', 'ends-with-two-spaces-ok  \n');
    expect(loadConfig({ BOOTSTRAP_ADMIN_PASSWORD_FILE: spaced }).bootstrapAdminPassword).toBe(
      'ends-with-two-spaces-ok  ',
    );
  });

  it('a file is checked like the variable: a weak password, a URL that is not postgres://, a remote host warned', () => {
    expect(refusal({ BOOTSTRAP_ADMIN_PASSWORD_FILE: secretFile('weak', 'short\n') })).toMatch(
      /^BOOTSTRAP_ADMIN_PASSWORD is refused: /,
    );
    expect(refusal({ DATABASE_URL_FILE: secretFile('mysql', 'mysql://x@h/db\n') })).toBe(
      'DATABASE_URL must be a postgres:// or postgresql:// URL.',
    );
    const remote = secretFile('remote', 'postgres://sk:pw@db.example/sparekey\n');
    expect(loadConfig({ DATABASE_URL_FILE: remote }).warnings[0]).toMatch(
      /^DATABASE_URL reaches db\.example/,
    );
  });

  it('refuses the variable and its file both set, in one line naming both', () => {
    const url = secretFile('db-url-2', 'postgres://127.0.0.1/sparekey\n');
    expect(refusal({ DATABASE_URL: 'postgres://127.0.0.1/other', DATABASE_URL_FILE: url })).toBe(
      'Set DATABASE_URL or DATABASE_URL_FILE, not both.',
    );
    expect(
      refusal({ BOOTSTRAP_ADMIN_PASSWORD: 'a-long-passphrase-42', BOOTSTRAP_ADMIN_PASSWORD_FILE: url }),
    ).toBe('Set BOOTSTRAP_ADMIN_PASSWORD or BOOTSTRAP_ADMIN_PASSWORD_FILE, not both.');
  });

  it('an unreadable, missing or empty file is one line naming the variable, never the content', () => {
    const missing = join(dir, 'missing');
    expect(refusal({ DATABASE_URL_FILE: missing })).toBe(
      `DATABASE_URL_FILE ${missing} cannot be read (ENOENT).`,
    );
    expect(refusal({ BOOTSTRAP_ADMIN_PASSWORD_FILE: dir })).toBe(
      `BOOTSTRAP_ADMIN_PASSWORD_FILE ${dir} cannot be read (EISDIR).`,
    );
    const empty = secretFile('empty', '\n');
    expect(refusal({ BOOTSTRAP_ADMIN_PASSWORD_FILE: empty })).toBe(
      `BOOTSTRAP_ADMIN_PASSWORD_FILE ${empty} is empty.`,
    );
  });
});

describe('TLS_KEY_PASSPHRASE, TLS_KEY_PASSPHRASE_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sparekey-config-passphrase-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const files = { TLS_CERT_FILE: 'c.pem', TLS_KEY_FILE: 'k.pem' };

  it('keeps the passphrase with the name of the setting it came from; none when unset', () => {
    expect(loadConfig(files).tls?.passphrase).toBeNull();
    expect(loadConfig({ ...files, TLS_KEY_PASSPHRASE: 'from-the-variable' }).tls?.passphrase).toEqual({
      value: 'from-the-variable',
      setting: 'TLS_KEY_PASSPHRASE',
    });
    const file = join(dir, 'passphrase');
    writeFileSync(file, 'from-a-file\n', { mode: 0o600 });
    expect(loadConfig({ ...files, TLS_KEY_PASSPHRASE_FILE: file }).tls?.passphrase).toEqual({
      value: 'from-a-file',
      setting: 'TLS_KEY_PASSPHRASE_FILE',
    });
    expect(() => loadConfig({ ...files, TLS_KEY_PASSPHRASE: 'x', TLS_KEY_PASSPHRASE_FILE: file })).toThrow(
      'Set TLS_KEY_PASSPHRASE or TLS_KEY_PASSPHRASE_FILE, not both.',
    );
  });

  it('a passphrase without TLS files is refused in one line naming the setting', () => {
    expect(() => loadConfig({ TLS_KEY_PASSPHRASE: 'for-no-key' })).toThrow(
      'TLS_KEY_PASSPHRASE is set but TLS_KEY_FILE is not: set both, or neither.',
    );
    const file = join(dir, 'stray');
    writeFileSync(file, 'for-no-key\n', { mode: 0o600 });
    expect(() => loadConfig({ TLS_KEY_PASSPHRASE_FILE: file })).toThrow(
      /^TLS_KEY_PASSPHRASE_FILE is set but TLS_KEY_FILE is not/,
    );
  });
});

describe('LOG_LEVEL', () => {
  it('is info by default, takes error, warn, info and debug, and refuses anything else naming it', () => {
    expect(loadConfig({}).logLevel).toBe('info');
    for (const level of ['error', 'warn', 'info', 'debug']) {
      expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
    }
    for (const bad of ['verbose', 'INFO', 'warning']) {
      expect(() => loadConfig({ LOG_LEVEL: bad })).toThrow(
        new ConfigError(`LOG_LEVEL must be one of error, warn, info, debug, not "${bad}".`),
      );
    }
  });

  it('a logger writes the lines at its level and the more severe ones, never the ones below', () => {
    const levelsWritten = (threshold: LogLevel) => {
      const lines: string[] = [];
      const log = jsonLogger((line) => lines.push(line), threshold);
      log.debug('d');
      log.info('i');
      log.warn('w');
      log.error('e');
      return lines.map((line) => JSON.parse(line).level);
    };
    expect(levelsWritten('error')).toEqual(['error']);
    expect(levelsWritten('warn')).toEqual(['warn', 'error']);
    expect(levelsWritten('info')).toEqual(['info', 'warn', 'error']);
    expect(levelsWritten('debug')).toEqual(['debug', 'info', 'warn', 'error']);
  });
});
