/**
 * The effective settings for an operator to read (`sparekey config check`, the server's debug log):
 * every value as the server uses it, secrets masked (the DATABASE_URL password, the bootstrap
 * password, the TLS key's passphrase; a *_FILE's content is the secret itself, so it never appears either).
 */
import { resolve } from 'node:path';
import type { Config } from './config';

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

/** The effective settings as [NAME, value], in the README's order; no secret appears. */
export function effectiveSettings(config: Config): [string, string][] {
  const { security, audit, argon2 } = config;
  const settings: [string, string | number | null][] = [
    ['HOST', config.host],
    ['PORT', config.port],
    ['PUBLIC_URL', config.publicUrl ?? `${security.publicUrl} (from HOST and PORT)`],
    ['TLS_CERT_FILE', config.tls?.certFile ?? null],
    ['TLS_KEY_FILE', config.tls?.keyFile ?? null],
    [
      'TLS_KEY_PASSPHRASE',
      config.tls?.passphrase ? `${MASK} (set, from ${config.tls.passphrase.setting})` : null,
    ],
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
    [
      'STORAGE_ENCRYPTION_KEY',
      config.storageKey
        ? `${MASK} (set; key id ${config.storageKey.current.id})`
        : '(not set: DATA_DIR/storage.key, generated at the first start)',
    ],
    [
      'STORAGE_ENCRYPTION_PREVIOUS_KEY',
      config.storageKey?.previous ? `${MASK} (set; key id ${config.storageKey.previous.id})` : null,
    ],
    ['LOG_LEVEL', config.logLevel],
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
  return settings.map(([name, value]) => [name, String(value ?? '(not set)')]);
}
