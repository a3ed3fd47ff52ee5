/**
 * Sheds sign-in attempts when argon2id is overloaded (crypto/hash-queue.ts). The decision is taken
 * before the request is read: nothing about the account is looked up, so a shed attempt says nothing
 * about whether the user exists, and nothing is counted (no lockout, no per-address failure, no audit).
 * A client back before its Retry-After gets the same 503, only later: see HashQueue.admit.
 */
import type { MiddlewareHandler } from 'hono';
import type { SignInGate } from '../crypto/hash-queue';
import { type AppEnv, addressGroup } from './context';
import { overloaded } from './errors';

/** Every request that starts or continues a sign-in by judging a secret, in the API and the web pages. */
export const SIGN_IN_PATHS = [
  '/api/auth/login',
  '/api/auth/mfa',
  '/api/auth/enroll',
  '/login',
  '/login/mfa',
  '/login/enroll',
] as const;

export function shedWhenOverloaded(gate: SignInGate): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const address = c.get('meta').ip;
    const admission = gate.admit(address && addressGroup(address));
    if (!admission.admitted) {
      await admission.held;
      throw overloaded(admission.retryAfterS);
    }
    try {
      await next();
    } finally {
      admission.release();
    }
  };
}
