import { createHash, randomBytes } from 'node:crypto';

/** 256 bits from the CSPRNG, base64url: unguessable and safe in a header or cookie. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Tokens are stored as their SHA-256 only: a leaked data directory yields no usable session.
 * A fast hash is enough here because the token already has 256 bits of entropy.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
