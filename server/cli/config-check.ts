/**
 * `sparekey config check`: the environment checked exactly as `sparekey serve` checks it before it
 * writes anything (server/config.ts, then server/startup.ts's DATA_DIR and TLS checks), without
 * binding a port, opening the store or creating DATA_DIR. On success it prints the effective
 * settings, secrets masked; on the first problem one line naming the setting, exit 1.
 */
import { resolve } from 'node:path';
import { type Config, loadConfig } from '../config';
import { checkDataDir, readTlsFiles } from '../startup';
import { parseCommand, run } from './args';

const USAGE = `usage: sparekey config check
Checks the server's settings (the environment, as 'sparekey serve' reads it) without starting it:
the values, DATA_DIR (a directory only this user can write to, or not created yet), the TLS
certificate and key (readable and a pair), EXTENSION_DIR. Prints the effective settings with every
secret masked, or one line naming the first setting to fix (exit 1). It writes nothing.`;

const MASK = '********';

/** The URL with its password masked: the user, host and database are what an operator checks. */
export function maskedDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = MASK;
    return parsed.toString();
  } catch {
    // loadConfig accepted it, but a URL the parser cannot read could still hold a password.
    return `postgres://${MASK}`;
  }
}

const minutes = (ms: number) => String(ms / 60_000);

/** The effective settings, one `NAME=value` per line, in the README's order; no secret appears. */
export function effectiveSettings(config: Config): string[] {
  const { security, audit, argon2 } = config;
  const settings: [string, string | number | null][] = [
    ['HOST', config.host],
    ['PORT', config.port],
    ['PUBLIC_URL', config.publicUrl ?? `${security.publicUrl} (from HOST and PORT)`],
    ['TLS_CERT_FILE', config.tls?.certFile ?? null],
    ['TLS_KEY_FILE', config.tls?.keyFile ?? null],
    ['ALLOW_INSECURE_HTTP', config.allowInsecureHttp ? '1' : '0'],
    ['DATA_DIR', resolve(config.dataDir)],
    ['store', config.database ? 'postgresql' : 'lowdb'],
    ['DATABASE_URL', config.database ? maskedDatabaseUrl(config.database.url) : null],
    ['DATABASE_POOL_SIZE', config.database?.poolSize ?? null],
    ['DATABASE_STATEMENT_TIMEOUT_MS', config.database?.statementTimeoutMs ?? null],
    [
      'BOOTSTRAP_ADMIN_PASSWORD',
      config.bootstrapAdminPassword === null ? '(not set: generated at the first start)' : `${MASK} (set)`,
    ],
    ['ARGON2_MEMORY_KIB', argon2.memoryCost],
    ['ARGON2_TIME_COST', argon2.timeCost],
    ['ARGON2_PARALLELISM', argon2.parallelism],
    ['ARGON2_QUEUE_MAX_WAIT_MS', config.hashQueueMaxWaitMs],
    ['SESSION_IDLE_MINUTES', minutes(security.sessionIdleMs)],
    ['SESSION_MAX_HOURS', String(security.sessionMaxMs / 3_600_000)],
    ['MFA_LOCKOUT_ATTEMPTS', security.mfaLockoutAttempts],
    ['MFA_LOCKOUT_WINDOW_MINUTES', minutes(security.mfaLockoutWindowMs)],
    ['MFA_LOCKOUT_MINUTES', minutes(security.mfaLockoutMs)],
    ['PASSWORD_LOCKOUT_ATTEMPTS', security.passwordLockoutAttempts],
    ['PASSWORD_LOCKOUT_WINDOW_MINUTES', minutes(security.passwordLockoutWindowMs)],
    ['PASSWORD_LOCKOUT_MINUTES', minutes(security.passwordLockoutMs)],
    ['LOCKOUT_MAX_HOURS', String(security.lockoutMaxMs / 3_600_000)],
    ['LOCKOUT_ADMIN_UNLOCK_AFTER', security.adminUnlockAfter],
    ['IP_FAILURE_LIMIT', security.ipFailureLimit],
    ['IP_FAILURE_WINDOW_MINUTES', minutes(security.ipFailureWindowMs)],
    ['SIGN_IN_BODY_TIMEOUT_MS', security.signInBodyTimeoutMs],
    ['CHANGE_LIMIT_PER_USER', security.changeLimitPerUser],
    ['CHANGE_LIMIT_PER_ADDRESS', security.changeLimitPerAddress],
    ['TRUST_PROXY', security.trustProxy ? '1' : '0'],
    ['TRUST_PROXY_HOPS', security.trustProxyHops],
    ['OIDC_KEY_REFRESH_SECONDS', security.oidcKeyRefreshMs / 1000],
    ['AUDIT_ROTATE_MB', audit.rotateBytes / (1024 * 1024)],
    ['AUDIT_RETENTION_DAYS', audit.retentionDays],
    ['AUDIT_RETENTION_FILES', audit.retentionFiles],
    ['EXTENSION_DIR', config.extensionDir],
    ['METRICS_HOST', config.metrics?.host ?? null],
    ['METRICS_PORT', config.metrics?.port ?? null],
  ];
  return settings.map(([name, value]) => `${name}=${value ?? '(not set)'}`);
}

run(async () => {
  const values = parseCommand(USAGE, {});
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The same checks, in the same order, as `sparekey serve` before it binds its port (server/main.ts).
  const config = loadConfig();
  await checkDataDir(resolve(config.dataDir));
  if (config.tls) readTlsFiles(config.tls);
  const warnings = config.warnings.map((warning) => `warning: ${warning}\n`).join('');
  process.stdout.write(`${effectiveSettings(config).join('\n')}\n${warnings}The configuration is valid.\n`);
  return 0;
});
