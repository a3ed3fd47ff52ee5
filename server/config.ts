/** Everything the server reads from its environment, parsed and checked in one place. */
import { isIP } from 'node:net';
import { type Argon2Params, OWASP_ARGON2 } from './crypto/hasher';

export interface SecurityConfig {
  sessionIdleMs: number;
  sessionMaxMs: number;
  mfaTokenMs: number;
  /** Failed MFA attempts on one account inside the window that lock its MFA step. */
  mfaLockoutAttempts: number;
  mfaLockoutWindowMs: number;
  mfaLockoutMs: number;
  /** Failures from one client address inside the window that throttle it (an office may share one). */
  ipFailureLimit: number;
  ipFailureWindowMs: number;
  /** Trust X-Forwarded-For only behind a known reverse proxy, or any client could pick its own address. */
  trustProxy: boolean;
  /** Cookies get Secure and responses HSTS when the server itself speaks TLS. */
  https: boolean;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  bootstrapAdminPassword: string | null;
  argon2: Argon2Params;
  tls: { certFile: string; keyFile: string } | null;
  allowInsecureHttp: boolean;
  security: SecurityConfig;
}

export class ConfigError extends Error {}

const MINUTE = 60_000;

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not "${raw}".`);
  }
  return value;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const host = env.HOST || '127.0.0.1';
  const certFile = env.TLS_CERT_FILE || '';
  const keyFile = env.TLS_KEY_FILE || '';
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new ConfigError('Set both TLS_CERT_FILE and TLS_KEY_FILE, or neither.');
  }
  const tls = certFile ? { certFile, keyFile } : null;
  const allowInsecureHttp = env.ALLOW_INSECURE_HTTP === '1';
  // Passwords, codes and tokens cross this socket: off the loopback, plain HTTP would expose them.
  if (!tls && !isLoopback(host) && !allowInsecureHttp) {
    throw new ConfigError(
      `Refusing to listen on ${host} without TLS: passwords and backup codes would cross the network in clear. ` +
        'Set TLS_CERT_FILE and TLS_KEY_FILE, or ALLOW_INSECURE_HTTP=1 behind a TLS-terminating proxy.',
    );
  }
  return {
    host,
    port: integer(env, 'PORT', 8787, 0, 65_535),
    dataDir: env.DATA_DIR || './data',
    bootstrapAdminPassword: env.BOOTSTRAP_ADMIN_PASSWORD || null,
    argon2: {
      memoryCost: integer(env, 'ARGON2_MEMORY_KIB', OWASP_ARGON2.memoryCost, 1024, 4_194_304),
      timeCost: integer(env, 'ARGON2_TIME_COST', OWASP_ARGON2.timeCost, 1, 100),
      parallelism: integer(env, 'ARGON2_PARALLELISM', OWASP_ARGON2.parallelism, 1, 16),
    },
    tls,
    allowInsecureHttp,
    security: {
      sessionIdleMs: integer(env, 'SESSION_IDLE_MINUTES', 30, 1, 10_080) * MINUTE,
      sessionMaxMs: integer(env, 'SESSION_MAX_HOURS', 12, 1, 720) * 60 * MINUTE,
      mfaTokenMs: 5 * MINUTE,
      mfaLockoutAttempts: integer(env, 'MFA_LOCKOUT_ATTEMPTS', 5, 1, 100),
      mfaLockoutWindowMs: integer(env, 'MFA_LOCKOUT_WINDOW_MINUTES', 15, 1, 1440) * MINUTE,
      mfaLockoutMs: integer(env, 'MFA_LOCKOUT_MINUTES', 15, 1, 1440) * MINUTE,
      ipFailureLimit: integer(env, 'IP_FAILURE_LIMIT', 100, 1, 1_000_000),
      ipFailureWindowMs: integer(env, 'IP_FAILURE_WINDOW_MINUTES', 15, 1, 1440) * MINUTE,
      trustProxy: env.TRUST_PROXY === '1',
      https: tls !== null,
    },
  };
}

/** Defaults for tests that build the app directly. */
export function defaultSecurityConfig(): SecurityConfig {
  return loadConfig({}).security;
}
