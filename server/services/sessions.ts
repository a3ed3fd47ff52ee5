/**
 * Sessions and MFA challenges are both bearer tokens: 256 random bits given to the client once,
 * stored only as their SHA-256.
 */
import { createHash } from 'node:crypto';
import { hashToken, newToken } from '../crypto/tokens';
import type { Deps } from '../deps';
import { mfaStepRequired } from '../http/errors';
import type { SessionMfa, TokenKind, TokenRecord, UserRecord } from '../store/types';
import { sessionMeetsPolicy } from './mfa-policy';

/**
 * Writing lastSeenAt on every request would cost a disk write per call, so it is refreshed at most
 * once a minute. With a short idle time that slack would end an active session early: activity every
 * 15 s under a 1-minute idle time would still be cut at 61 s. Refreshing once half the idle time has
 * passed keeps a session used more often than every idle/2 alive.
 */
const TOUCH_AT_MOST_EVERY_MS = 60_000;
const touchEveryMs = (idleMs: number) => Math.min(TOUCH_AT_MOST_EVERY_MS, idleMs / 2);

const iso = (ms: number) => new Date(ms).toISOString();

async function issueToken(
  deps: Deps,
  user: UserRecord,
  kind: TokenKind,
  lifetimeMs: number,
  extra: Pick<TokenRecord, 'pendingSecret' | 'mfaFingerprint' | 'mfaPassed'>,
): Promise<string> {
  const token = newToken();
  const now = deps.clock.now();
  await deps.store.putToken({
    hash: hashToken(token),
    kind,
    userId: user.id,
    createdAt: iso(now),
    lastSeenAt: iso(now),
    expiresAt: iso(now + lifetimeMs),
    ...extra,
  });
  return token;
}

/** A session that remembers which MFA step it passed, so a stricter policy later can refuse it. */
export function startSession(deps: Deps, user: UserRecord, mfaPassed: SessionMfa): Promise<string> {
  return issueToken(deps, user, 'session', deps.security.sessionMaxMs, { mfaPassed });
}

/**
 * The signed-in user, or null when the token is unknown, expired (idle or absolute) or its user is gone.
 * A background poll (`activity: false`) is not the person using the session, so it does not keep it alive.
 * Throws mfa_step_required (and ends the session) when the policy now asks this user for an MFA step
 * the session never passed.
 */
export async function resolveSession(
  deps: Deps,
  token: string,
  { activity = true }: { activity?: boolean } = {},
): Promise<UserRecord | null> {
  const hash = hashToken(token);
  const record = await deps.store.getToken(hash);
  if (record?.kind !== 'session') return null;
  const now = deps.clock.now();
  const idleSince = Date.parse(record.lastSeenAt);
  if (now >= Date.parse(record.expiresAt) || now - idleSince >= deps.security.sessionIdleMs) {
    await deps.store.deleteToken(hash);
    return null;
  }
  const user = await deps.store.getUser(record.userId);
  if (!user) {
    await deps.store.deleteToken(hash);
    return null;
  }
  if (!sessionMeetsPolicy(await deps.store.getPolicy(), user, record.mfaPassed)) {
    await deps.store.deleteToken(hash);
    throw mfaStepRequired();
  }
  if (activity && now - idleSince >= touchEveryMs(deps.security.sessionIdleMs))
    await deps.store.putToken({ ...record, lastSeenAt: iso(now) });
  return user;
}

export async function endSession(deps: Deps, token: string): Promise<void> {
  await deps.store.deleteToken(hashToken(token));
}

/**
 * What the user's authenticator is, as a digest (the secret must not be copied into token files in
 * clear). The last accepted step is left out: a TOTP sign-in does not change the authenticator.
 */
export function mfaFingerprint(user: UserRecord): string {
  const { type, secret, enrolled, configureLater } = user.mfa;
  return createHash('sha256')
    .update(JSON.stringify([type, secret, enrolled, configureLater]))
    .digest('base64url');
}

/** A short-lived proof that the password step passed; it dies at its first successful MFA step. */
export function startChallenge(deps: Deps, user: UserRecord, pendingSecret: string | null = null) {
  return issueToken(deps, user, 'mfa', deps.security.mfaTokenMs, {
    pendingSecret,
    mfaFingerprint: mfaFingerprint(user),
  });
}

export async function readChallenge(deps: Deps, mfaToken: string): Promise<TokenRecord | null> {
  const record = await deps.store.getToken(hashToken(mfaToken));
  if (record?.kind !== 'mfa') return null;
  if (deps.clock.now() >= Date.parse(record.expiresAt)) {
    await deps.store.deleteToken(record.hash);
    return null;
  }
  return record;
}

/** True for exactly one caller: two requests racing on one challenge cannot both become sessions. */
export async function finishChallenge(deps: Deps, challenge: TokenRecord): Promise<boolean> {
  return (await deps.store.takeToken(challenge.hash)) !== null;
}

/** The MFA step the session behind `token` passed: a replacement session (after a password change) keeps it. */
export async function sessionMfaPassed(deps: Deps, token: string): Promise<SessionMfa> {
  return (await deps.store.getToken(hashToken(token)))?.mfaPassed ?? 'none';
}
