/**
 * How a sign-in was made, for the claims: a web session remembers its MFA method and time, and each
 * grant remembers the sign-in that last authorized it (the ID token and userinfo of that grant say so)
 * and the credentials it was made with: a grant outlives no password or MFA change (docs/SECURITY.md).
 */
import { createHash } from 'node:crypto';
import { hashToken } from '../crypto/tokens';
import type { Deps } from '../deps';
import { unusedCount } from '../services/mfa-policy';
import { mfaFingerprint } from '../services/sessions';
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

/**
 * A password change replaces the session: the sign-in it rode on (its time, its MFA step) goes to the
 * replacement, so auth_time and amr stay what they were. Without a record there is nothing to carry,
 * and the next application sign-in asks for the password again.
 */
export async function carryWebSignIn(deps: Deps, fromToken: string, toToken: string): Promise<void> {
  const signIn = await webSignIn(deps, fromToken);
  await deps.store.oidcDestroy(WEB_SIGN_IN, hashToken(fromToken));
  if (!signIn) return;
  await deps.store.oidcPut(
    WEB_SIGN_IN,
    hashToken(toToken),
    { ...signIn },
    Date.now() + deps.security.sessionMaxMs,
  );
}

/**
 * What a grant is bound to: the account's password hash and MFA set-up, as a digest (neither is
 * copied into the provider's records). A password change or reset, an MFA reset, a new authenticator
 * and an enrolment all change it, by whatever path (API, web, `npm run admin`).
 */
export function credentialsOf(user: UserRecord): string {
  return createHash('sha256')
    .update(JSON.stringify([user.id, user.passwordHash, mfaFingerprint(user)]))
    .digest('base64url');
}

/** Stored with the grant's id in its payload, so revoking the grant removes it too. */
export async function rememberGrantSignIn(
  deps: Deps,
  grantId: string,
  user: UserRecord,
  signIn: SignIn,
): Promise<void> {
  await deps.store.oidcPut(
    GRANT_SIGN_IN,
    grantId,
    { ...signIn, grantId, credentials: credentialsOf(user) },
    Date.now() + deps.security.sessionMaxMs,
  );
}

/**
 * The sign-in behind a grant, or null when the grant must not be used any more: no record of it, or
 * the account's credentials changed since it was made.
 */
export async function signInOfGrant(deps: Deps, grantId: string, user: UserRecord): Promise<SignIn | null> {
  const payload = await deps.store.oidcGet(GRANT_SIGN_IN, grantId);
  if (payload?.credentials !== credentialsOf(user)) return null;
  return asSignIn(payload);
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
