/**
 * How a sign-in was made, for the claims: a web session remembers its MFA method, and each grant
 * remembers the sign-in that last authorized it (the ID token and userinfo of that grant say so).
 */
import { hashToken } from '../crypto/tokens';
import type { Deps } from '../deps';
import { unusedCount } from '../services/mfa-policy';
import type { UserRecord } from '../store/types';

export type SignInMethod = 'password' | 'totp' | 'backup_code' | 'enrolment';

export interface SignIn {
  method: SignInMethod;
  /** Epoch seconds, the auth_time. */
  at: number;
}

/** Model names of SpareKey's own records in the provider's part of the store. */
const WEB_SIGN_IN = 'SparekeyWebSignIn';
const GRANT_SIGN_IN = 'SparekeyGrantSignIn';

const METHODS = new Set<string>(['password', 'totp', 'backup_code', 'enrolment']);

function asSignIn(payload: Record<string, unknown> | null): SignIn | null {
  if (!payload || typeof payload.method !== 'string' || !METHODS.has(payload.method)) return null;
  if (typeof payload.at !== 'number') return null;
  return { method: payload.method as SignInMethod, at: payload.at };
}

/** Called by the web sign-in once a session exists: keyed by the session's hash, like the session. */
export async function rememberWebSignIn(
  deps: Deps,
  sessionToken: string,
  method: SignInMethod,
): Promise<void> {
  const signIn: SignIn = { method, at: Math.floor(Date.now() / 1000) };
  await deps.store.oidcPut(
    WEB_SIGN_IN,
    hashToken(sessionToken),
    { ...signIn },
    Date.now() + deps.security.sessionMaxMs,
  );
}

export async function webSignIn(deps: Deps, sessionToken: string): Promise<SignIn | null> {
  return asSignIn(await deps.store.oidcGet(WEB_SIGN_IN, hashToken(sessionToken)));
}

/** Stored with the grant's id in its payload, so revoking the grant removes it too. */
export async function rememberGrantSignIn(deps: Deps, grantId: string, signIn: SignIn): Promise<void> {
  await deps.store.oidcPut(
    GRANT_SIGN_IN,
    grantId,
    { ...signIn, grantId },
    Date.now() + deps.security.sessionMaxMs,
  );
}

export async function signInOfGrant(deps: Deps, grantId: string): Promise<SignIn | null> {
  return asSignIn(await deps.store.oidcGet(GRANT_SIGN_IN, grantId));
}

/** RFC 8176: a password, and for the MFA step a one-time password (TOTP or a backup code). */
export function amrOf(method: SignInMethod): string[] {
  return method === 'password' ? ['pwd'] : ['pwd', 'otp', 'mfa'];
}

export function acrOf(method: SignInMethod): string {
  return method === 'password' ? 'urn:sparekey:acr:pwd' : 'urn:sparekey:acr:mfa';
}

/** The claims beyond sub; oidc-provider keeps those the granted scopes ask for. */
export function claimsFor(user: UserRecord, signIn: SignIn | null): Record<string, unknown> {
  return {
    preferred_username: user.username,
    ...(signIn?.method === 'backup_code'
      ? {
          sparekey_backup_code: {
            used: true,
            remaining: unusedCount(user),
            total: user.backupCodes?.codes.length ?? 0,
          },
        }
      : {}),
  };
}
