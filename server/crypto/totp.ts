/** The primary MFA method: RFC 6238 TOTP (SHA-1, 6 digits, 30 s), what every authenticator app speaks. */
import { Secret, TOTP } from 'otpauth';

const PERIOD_SECONDS = 30;
const ISSUER = 'SpareKey';

export function newTotpSecret(): string {
  // 160 bits, the size RFC 4226 recommends for SHA-1; base32 upper case without padding.
  // Stryker disable next-line ObjectLiteral: otpauth's default size is also 20 bytes; said here on purpose
  return new Secret({ size: 20 }).base32;
}

function totp(secret: string, username: string): TOTP {
  return new TOTP({
    issuer: ISSUER,
    label: username,
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD_SECONDS,
    secret: Secret.fromBase32(secret),
  });
}

export function otpauthUri(secret: string, username: string): string {
  return totp(secret, username).toString();
}

/**
 * Returns the time step the code belongs to, `'replayed'` for a right code of a step at or before
 * `lastStep` (refused, so an observed code cannot be replayed, but not a guess either), or null.
 * ±1 step absorbs clock drift.
 */
export function verifyTotp(
  secret: string,
  code: string,
  nowMs: number,
  lastStep: number | null,
): number | 'replayed' | null {
  const token = code.replace(/\s/g, '');
  // Stryker disable next-line ConditionalExpression,Regex: repeats otpauth, which refuses all but 6 exact digits: a weaker guard shows nowhere
  if (!/^\d{6}$/.test(token)) return null;
  // Stryker disable next-line StringLiteral: the label names the account in the enrolment link only, never in a code
  const delta = totp(secret, 'x').validate({ token, timestamp: nowMs, window: 1 });
  if (delta === null) return null;
  const step = Math.floor(nowMs / 1000 / PERIOD_SECONDS) + delta;
  if (lastStep !== null && step <= lastStep) return 'replayed';
  return step;
}

/** Used by tests and the benchmark to act as the user's authenticator app. */
export function currentTotp(secret: string, nowMs: number): string {
  // Stryker disable next-line StringLiteral: the label names the account in the enrolment link only, never in a code
  return totp(secret, 'x').generate({ timestamp: nowMs });
}
