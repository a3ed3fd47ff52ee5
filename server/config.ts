/** Everything the server reads from its environment, parsed and checked in one place. */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { describeCrx } from '../shared/crx';
import { CRX_FILE } from '../shared/update-manifest';
import { DEFAULT_MAX_WAIT_MS } from './crypto/hash-queue';
import { type Argon2Params, OWASP_ARGON2 } from './crypto/hasher';
import { parseStorageKey, type StorageKey, StorageKeyFormatError } from './crypto/sealing';
import { LOG_LEVELS, type LogLevel } from './log';
import { passwordProblem } from './services/password-rules';
import { DEFAULT_STATEMENT_TIMEOUT_MS, defaultPoolSize, type PostgresOptions } from './store/postgres/db';

export interface SecurityConfig {
  sessionIdleMs: number;
  sessionMaxMs: number;
  mfaTokenMs: number;
  /** Failed MFA attempts on one account inside the window that lock its MFA step. */
  mfaLockoutAttempts: number;
  mfaLockoutWindowMs: number;
  /** The first lock; each further lock without a success in between lasts twice as long, up to lockoutMaxMs. */
  mfaLockoutMs: number;
  /** The same brake on wrong passwords for one account (NIST SP 800-63B 5.2.2). */
  passwordLockoutAttempts: number;
  passwordLockoutWindowMs: number;
  passwordLockoutMs: number;
  /** The longest a single lock lasts. */
  lockoutMaxMs: number;
  /** Consecutive failures after which only an administrator can unlock the account (NIST: at most 100). */
  adminUnlockAfter: number;
  /** Failures from one client address inside the window that throttle it (an office may share one). */
  ipFailureLimit: number;
  ipFailureWindowMs: number;
  /**
   * How long a sign-in request's body may take to arrive after its headers (SIGN_IN_BODY_TIMEOUT_MS);
   * later, 408. An attempt is let past the overload gate only once its body is in.
   */
  signInBodyTimeoutMs: number;
  /**
   * Costly account changes (a new set of backup codes, a password change) per user and per client
   * address in a sliding minute, each kind apart (CHANGE_LIMIT_PER_USER, CHANGE_LIMIT_PER_ADDRESS).
   */
  changeLimitPerUser: number;
  changeLimitPerAddress: number;
  /** Trust X-Forwarded-For only behind a known reverse proxy, or any client could pick its own address. */
  trustProxy: boolean;
  /** How many proxies append to X-Forwarded-For: the client address is the entry this far from the right. */
  trustProxyHops: number;
  /**
   * The address users and the extension reach (scheme, host, port; no path, no trailing slash),
   * e.g. https://sparekey.example behind a TLS-terminating proxy. Also the OpenID Connect issuer.
   */
  publicUrl: string;
  /** Cookies get Secure and responses HSTS when users reach the server over TLS (PUBLIC_URL or TLS_*). */
  https: boolean;
  /**
   * OIDC_KEY_REFRESH_SECONDS: how long an instance serves the OpenID Connect key set it read before
   * it reads it from the store again, i.e. the longest a rotated or revoked key takes to show.
   */
  oidcKeyRefreshMs: number;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** DATABASE_URL set: the PostgreSQL store (several instances may share it); null: lowdb in dataDir. */
  database: Required<PostgresOptions> | null;
  audit: { rotateBytes: number; retentionDays: number; retentionFiles: number | null };
  bootstrapAdminPassword: string | null;
  /**
   * STORAGE_ENCRYPTION_KEY (or _FILE): the key TOTP secrets and the OIDC keys are sealed under, and
   * STORAGE_ENCRYPTION_PREVIOUS_KEY (or _FILE), the one a rekey is moving away from. null: not set,
   * allowed only for lowdb on the loopback outside production, where `DATA_DIR/storage.key` is used
   * (generated at the first start).
   */
  storageKey: { current: StorageKey; previous: StorageKey | null } | null;
  /** NODE_ENV=production: nothing secret is generated into DATA_DIR (the storage key must be set). */
  production: boolean;
  argon2: Argon2Params;
  /** ARGON2_QUEUE_MAX_WAIT_MS: sign-in attempts whose hash would wait longer are shed (503). */
  hashQueueMaxWaitMs: number;
  /**
   * TLS_CERT_FILE and TLS_KEY_FILE set: the server speaks HTTPS itself (server/tls.ts reads the files at
   * start and again on SIGHUP). The key's passphrase, if any, is read once at start, with the name of
   * the setting it came from for the messages.
   */
  tls: {
    certFile: string;
    keyFile: string;
    passphrase: { value: string; setting: 'TLS_KEY_PASSPHRASE' | 'TLS_KEY_PASSPHRASE_FILE' } | null;
  } | null;
  allowInsecureHttp: boolean;
  /** PUBLIC_URL as set; null means http(s)://HOST:PORT, known once the socket is bound (PORT=0). */
  publicUrl: string | null;
  security: SecurityConfig;
  /** EXTENSION_DIR: the packed extension's folder (extension/pack.ts) the server serves; null: none. */
  extensionDir: string | null;
  /** METRICS_PORT set: Prometheus metrics on their own listener (loopback unless METRICS_HOST); null: none. */
  metrics: { host: string; port: number } | null;
  /** LOG_LEVEL: log lines less severe than this are not written. */
  logLevel: LogLevel;
  /** Settings that work but weaken security: logged once at start, one line each. */
  warnings: string[];
}

export class ConfigError extends Error {}

const MINUTE = 60_000;

/** A sign-in body is a few hundred bytes: it comes with its headers, or within a second on a bad line. */
export const DEFAULT_SIGN_IN_BODY_TIMEOUT_MS = 5000;

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not "${raw}".`);
  }
  return value;
}

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

/**
 * PUBLIC_URL must be an absolute http(s) origin: it is the issuer, the cookie scope and the origin
 * forms must come from. SpareKey is served at the root of its own origin: its pages, redirects and
 * __Host- cookies (which must have Path=/) all assume it, and sharing an origin with other apps would
 * share those cookies with them. So a path is refused rather than half-supported.
 */
function publicUrlFrom(raw: string | undefined): URL | null {
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `PUBLIC_URL must be an absolute URL such as https://sparekey.example, not "${raw}".`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`PUBLIC_URL must start with https:// or http://, not "${raw}".`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError('PUBLIC_URL must not carry a user, a password, a query or a fragment.');
  }
  if (url.pathname !== '/') {
    throw new ConfigError(
      `PUBLIC_URL must be the root of its origin, such as ${url.origin}, not "${raw}": SpareKey cannot be ` +
        'served under a path. Give it its own host name (e.g. https://sparekey.intranet.example) at the proxy.',
    );
  }
  return url;
}

/** The canonical text of a public URL: its origin, so paths append with a slash. */
export function publicUrlText(url: URL): string {
  return url.origin;
}

/** The public URL when PUBLIC_URL is unset: the address the server is bound to. */
export function boundUrl(config: Pick<Config, 'tls'>, host: string, port: number): string {
  const name = isIP(host) === 6 ? `[${host}]` : host;
  return `${config.tls ? 'https' : 'http'}://${name}:${port}`;
}

/** The settings that hold a secret, which may come from a file instead (NAME_FILE, e.g. a Docker or systemd credential). */
export const SECRET_SETTINGS = [
  'DATABASE_URL',
  'BOOTSTRAP_ADMIN_PASSWORD',
  'TLS_KEY_PASSPHRASE',
  'STORAGE_ENCRYPTION_KEY',
  'STORAGE_ENCRYPTION_PREVIOUS_KEY',
] as const;

/**
 * A secret setting's value: NAME, or the content of the file NAME_FILE names, read once now, one
 * trailing newline removed (the one an editor or `echo` adds). Both set is ambiguous, so refused.
 * The messages name the variable and the file, never the content.
 */
export function secretSetting(
  env: NodeJS.ProcessEnv,
  name: (typeof SECRET_SETTINGS)[number],
): string | undefined {
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return env[name];
  if (env[name]) throw new ConfigError(`Set ${name} or ${name}_FILE, not both.`);
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `${name}_FILE ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? error}).`,
    );
  }
  const value = content.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(`${name}_FILE ${file} is empty.`);
  return value;
}

/** The environment with each secret setting taken from its variable or its file. */
function withSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const resolved = { ...env };
  for (const name of SECRET_SETTINGS) resolved[name] = secretSetting(env, name);
  return resolved;
}

function databaseFrom(env: NodeJS.ProcessEnv): Required<PostgresOptions> | null {
  const url = env.DATABASE_URL;
  if (url === undefined || url === '') return null;
  if (!/^postgres(ql)?:\/\//.test(url)) {
    // The URL may hold a password: the message does not repeat it.
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL.');
  }
  return {
    url,
    poolSize: integer(env, 'DATABASE_POOL_SIZE', defaultPoolSize(), 1, 1000),
    statementTimeoutMs: integer(
      env,
      'DATABASE_STATEMENT_TIMEOUT_MS',
      DEFAULT_STATEMENT_TIMEOUT_MS,
      100,
      600_000,
    ),
  };
}

/**
 * A database on another machine reached without `sslmode` (or with sslmode=disable): node-postgres
 * then speaks plain TCP, so the password and every hash and secret cross the network in clear and the
 * server is not authenticated. Warned rather than refused (a private link may be trusted), in one line
 * that names the host, never the URL (it may hold a password).
 */
function databaseWarning(url: string | undefined): string | null {
  if (!url) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  // `?host=/run/postgresql` is a Unix socket: local like the loopback.
  const host = parsed.searchParams.get('host') ?? parsed.hostname;
  if (host === '' || host.startsWith('/') || isLoopback(host)) return null;
  const sslmode = parsed.searchParams.get('sslmode');
  if ((sslmode !== null && sslmode !== 'disable') || parsed.searchParams.has('ssl')) return null;
  return (
    `DATABASE_URL reaches ${host}, not the loopback, ${sslmode === 'disable' ? 'with sslmode=disable' : 'without sslmode'}: ` +
    'the connection is not encrypted and the database is not authenticated. ' +
    'Add ?sslmode=verify-full&sslrootcert=/path/ca.pem unless the link is private and trusted.'
  );
}

/** How to make a key, said wherever one is missing or refused. */
export const MAKE_A_KEY = 'openssl rand -base64 32 > storage.key; chmod 600 storage.key';

/** One storage key setting, decoded; the message names the setting, never the value. */
export function storageKeyFrom(name: string, text: string): StorageKey {
  try {
    return parseStorageKey(text);
  } catch (error) {
    if (!(error instanceof StorageKeyFormatError)) throw error;
    throw new ConfigError(
      `${name} must be at least 32 random bytes in base64 or hex (${MAKE_A_KEY}): ${error.message}.`,
    );
  }
}

/** The storage keys as set; whether one is required is judged at start (server/storage-key.ts). */
function storageKeyFromEnv(env: NodeJS.ProcessEnv): Config['storageKey'] {
  const current = env.STORAGE_ENCRYPTION_KEY;
  const previous = env.STORAGE_ENCRYPTION_PREVIOUS_KEY;
  if (!current) {
    if (previous) {
      throw new ConfigError(
        'STORAGE_ENCRYPTION_PREVIOUS_KEY is set without STORAGE_ENCRYPTION_KEY: set the current key too.',
      );
    }
    return null;
  }
  return {
    current: storageKeyFrom('STORAGE_ENCRYPTION_KEY', current),
    previous: previous ? storageKeyFrom('STORAGE_ENCRYPTION_PREVIOUS_KEY', previous) : null,
  };
}

function logLevelFrom(raw: string | undefined): LogLevel {
  if (raw === undefined || raw === '') return 'info';
  const level = LOG_LEVELS.find((known) => known === raw);
  if (!level) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${raw}".`);
  return level;
}

/** Metrics get a port of their own: the public one never serves them. */
function metricsFrom(env: NodeJS.ProcessEnv, publicPort: number): Config['metrics'] {
  if (env.METRICS_PORT === undefined || env.METRICS_PORT === '') return null;
  const port = integer(env, 'METRICS_PORT', 0, 0, 65_535);
  if (port !== 0 && port === publicPort) {
    throw new ConfigError(
      `METRICS_PORT must differ from PORT (${port}): metrics are never served on the public port.`,
    );
  }
  return { host: env.METRICS_HOST || '127.0.0.1', port };
}

/**
 * The folder `npm run extension:pack` wrote. It must be a readable directory, and a CRX in it must be
 * one Chromium would install: an admin learns of a wrong path or a damaged package at start-up, not
 * from browsers that silently never install. Files put in place later are read as they change.
 */
function extensionDirFrom(env: NodeJS.ProcessEnv): string | null {
  const raw = env.EXTENSION_DIR;
  if (raw === undefined || raw === '') return null;
  const dir = resolve(raw);
  try {
    if (!statSync(dir).isDirectory()) throw new ConfigError(`EXTENSION_DIR ${raw} is not a directory.`);
    accessSync(dir, constants.R_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `EXTENSION_DIR ${raw} cannot be read (${(error as NodeJS.ErrnoException).code}): give the folder npm run extension:pack wrote.`,
    );
  }
  const crx = join(dir, CRX_FILE);
  if (existsSync(crx)) {
    try {
      describeCrx(readFileSync(crx));
    } catch (error) {
      throw new ConfigError(
        `EXTENSION_DIR ${raw}: ${CRX_FILE} is not a valid signed package (${error instanceof Error ? error.message : error}).`,
      );
    }
  }
  return dir;
}

/** The TLS files and the key's passphrase; the files themselves are read by server/tls.ts. */
function tlsFrom(env: NodeJS.ProcessEnv, given: NodeJS.ProcessEnv): Config['tls'] {
  const certFile = env.TLS_CERT_FILE || '';
  const keyFile = env.TLS_KEY_FILE || '';
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new ConfigError('Set both TLS_CERT_FILE and TLS_KEY_FILE, or neither.');
  }
  const passphrase = env.TLS_KEY_PASSPHRASE || null;
  const setting = given.TLS_KEY_PASSPHRASE_FILE ? 'TLS_KEY_PASSPHRASE_FILE' : 'TLS_KEY_PASSPHRASE';
  if (!certFile) {
    if (passphrase) throw new ConfigError(`${setting} is set but TLS_KEY_FILE is not: set both, or neither.`);
    return null;
  }
  return { certFile, keyFile, passphrase: passphrase ? { value: passphrase, setting } : null };
}

export function loadConfig(given: NodeJS.ProcessEnv = process.env): Config {
  const env = withSecrets(given);
  const host = env.HOST || '127.0.0.1';
  const tls = tlsFrom(env, given);
  const allowInsecureHttp = env.ALLOW_INSECURE_HTTP === '1';
  const publicUrl = publicUrlFrom(env.PUBLIC_URL);
  const port = integer(env, 'PORT', 8787, 0, 65_535);
  // Users reach the server over TLS when it speaks TLS itself or a proxy in front of it does.
  const https = tls !== null || publicUrl?.protocol === 'https:';
  // Passwords, codes and tokens cross this socket: off the loopback, plain HTTP would expose them.
  if (!https && !isLoopback(host) && !allowInsecureHttp) {
    throw new ConfigError(
      `Refusing to listen on ${host} without TLS: passwords and backup codes would cross the network in clear. ` +
        'Set TLS_CERT_FILE and TLS_KEY_FILE, or PUBLIC_URL=https://… behind a TLS-terminating proxy ' +
        '(ALLOW_INSECURE_HTTP=1 overrides).',
    );
  }
  if (publicUrl?.protocol === 'http:' && !isLoopback(publicUrl.hostname) && !allowInsecureHttp) {
    throw new ConfigError(
      `Refusing PUBLIC_URL ${publicUrlText(publicUrl)}: users would send passwords and backup codes over plain HTTP. ` +
        'Use an https:// address (ALLOW_INSECURE_HTTP=1 overrides).',
    );
  }
  const bootstrapAdminPassword = env.BOOTSTRAP_ADMIN_PASSWORD || null;
  // The first admin's password obeys the rule every other password does.
  const weakBootstrap =
    bootstrapAdminPassword && passwordProblem(bootstrapAdminPassword, { username: 'admin' });
  if (weakBootstrap) {
    throw new ConfigError(
      `BOOTSTRAP_ADMIN_PASSWORD is refused: ${weakBootstrap} Unset it to have a password generated.`,
    );
  }
  return {
    host,
    port,
    dataDir: env.DATA_DIR || './data',
    database: databaseFrom(env),
    // The audit log's retention (docs/ARCHITECTURE.md): rotation size, and how long or how many rotated files are kept.
    audit: {
      rotateBytes: integer(env, 'AUDIT_ROTATE_MB', 32, 1, 4096) * 1024 * 1024,
      retentionDays: integer(env, 'AUDIT_RETENTION_DAYS', 400, 1, 36_500),
      retentionFiles: env.AUDIT_RETENTION_FILES
        ? integer(env, 'AUDIT_RETENTION_FILES', 0, 1, 1_000_000)
        : null,
    },
    bootstrapAdminPassword,
    storageKey: storageKeyFromEnv(env),
    production: env.NODE_ENV === 'production',
    argon2: {
      memoryCost: integer(env, 'ARGON2_MEMORY_KIB', OWASP_ARGON2.memoryCost, 1024, 4_194_304),
      timeCost: integer(env, 'ARGON2_TIME_COST', OWASP_ARGON2.timeCost, 1, 100),
      parallelism: integer(env, 'ARGON2_PARALLELISM', OWASP_ARGON2.parallelism, 1, 16),
    },
    hashQueueMaxWaitMs: integer(env, 'ARGON2_QUEUE_MAX_WAIT_MS', DEFAULT_MAX_WAIT_MS, 100, 600_000),
    tls,
    allowInsecureHttp,
    publicUrl: publicUrl ? publicUrlText(publicUrl) : null,
    security: {
      sessionIdleMs: integer(env, 'SESSION_IDLE_MINUTES', 30, 1, 10_080) * MINUTE,
      sessionMaxMs: integer(env, 'SESSION_MAX_HOURS', 12, 1, 720) * 60 * MINUTE,
      mfaTokenMs: 5 * MINUTE,
      mfaLockoutAttempts: integer(env, 'MFA_LOCKOUT_ATTEMPTS', 5, 1, 100),
      mfaLockoutWindowMs: integer(env, 'MFA_LOCKOUT_WINDOW_MINUTES', 15, 1, 1440) * MINUTE,
      mfaLockoutMs: integer(env, 'MFA_LOCKOUT_MINUTES', 15, 1, 1440) * MINUTE,
      passwordLockoutAttempts: integer(env, 'PASSWORD_LOCKOUT_ATTEMPTS', 10, 1, 100),
      passwordLockoutWindowMs: integer(env, 'PASSWORD_LOCKOUT_WINDOW_MINUTES', 15, 1, 1440) * MINUTE,
      passwordLockoutMs: integer(env, 'PASSWORD_LOCKOUT_MINUTES', 15, 1, 1440) * MINUTE,
      lockoutMaxMs: integer(env, 'LOCKOUT_MAX_HOURS', 24, 1, 720) * 60 * MINUTE,
      adminUnlockAfter: integer(env, 'LOCKOUT_ADMIN_UNLOCK_AFTER', 100, 1, 100),
      ipFailureLimit: integer(env, 'IP_FAILURE_LIMIT', 100, 1, 1_000_000),
      ipFailureWindowMs: integer(env, 'IP_FAILURE_WINDOW_MINUTES', 15, 1, 1440) * MINUTE,
      signInBodyTimeoutMs: integer(
        env,
        'SIGN_IN_BODY_TIMEOUT_MS',
        DEFAULT_SIGN_IN_BODY_TIMEOUT_MS,
        100,
        60_000,
      ),
      changeLimitPerUser: integer(env, 'CHANGE_LIMIT_PER_USER', 3, 1, 1000),
      changeLimitPerAddress: integer(env, 'CHANGE_LIMIT_PER_ADDRESS', 20, 1, 100_000),
      trustProxy: env.TRUST_PROXY === '1',
      trustProxyHops: integer(env, 'TRUST_PROXY_HOPS', 1, 1, 10),
      publicUrl: publicUrl ? publicUrlText(publicUrl) : boundUrl({ tls }, host, port),
      https,
      oidcKeyRefreshMs: integer(env, 'OIDC_KEY_REFRESH_SECONDS', 60, 1, 3600) * 1000,
    },
    metrics: metricsFrom(env, port),
    logLevel: logLevelFrom(env.LOG_LEVEL),
    warnings: [databaseWarning(env.DATABASE_URL)].filter((warning) => warning !== null),
    extensionDir: extensionDirFrom(env),
  };
}

/** Defaults for tests that build the app directly. */
export function defaultSecurityConfig(): SecurityConfig {
  return loadConfig({}).security;
}
