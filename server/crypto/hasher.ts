/**
 * Slow hashing for passwords and backup codes. One interface, so tests can swap in a fast fake
 * while the server and the benchmark use argon2id at its real cost.
 */
import argon2 from 'argon2';

export interface Argon2Params {
  /** KiB. OWASP's argon2id minimum: 19 MiB, t=2, p=1. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const OWASP_ARGON2: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export interface Hasher {
  /** A self-describing PHC string ($argon2id$...) with its own random salt. */
  hashPassword(password: string): Promise<string>;
  verifyPassword(hash: string, password: string): Promise<boolean>;
  /** Raw 32-byte argon2id of a canonical code under its set's salt: comparable with timingSafeEqual. */
  codeDigest(code: string, salt: Buffer): Promise<Buffer>;
}

export function argon2Hasher(params: Argon2Params = OWASP_ARGON2): Hasher {
  const options = { type: argon2.argon2id, ...params };
  return {
    hashPassword: (password) => argon2.hash(password, options),
    async verifyPassword(hash, password) {
      try {
        return await argon2.verify(hash, password);
      } catch {
        // A malformed stored hash is a failed check, never a crash of the request.
        return false;
      }
    },
    codeDigest: (code, salt) => argon2.hash(code, { ...options, salt, hashLength: 32, raw: true }),
  };
}
