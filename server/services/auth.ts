/**
 * The sign-in: password, then the MFA step the policy asks for (a TOTP code, a backup code, or
 * enrolment of an authenticator). Both the JSON API and the web sign-in screen go through here.
 */
import type { LoginResponse, MfaMethod, SessionResponse, User } from '../../shared/api';
import { normalizeCode } from '../../shared/codes';
import { newTotpSecret, otpauthUri, verifyTotp } from '../crypto/totp';
import type { Deps, RequestMeta } from '../deps';
import { ApiError, expiredMfaToken, invalidCode, invalidCredentials, tooManyAttempts } from '../http/errors';
import type { TokenRecord, UserRecord } from '../store/types';
import { audit } from './audit';
import { findUnusedCode } from './backup-codes';
import { backupCodeUsable, mfaStep, unusedCount } from './mfa-policy';
import {
  endSession,
  finishChallenge,
  readChallenge,
  resolveSession,
  startChallenge,
  startSession,
} from './sessions';
import {
  ensureAddressAllowed,
  mfaLockRemaining,
  recordAddressFailure,
  withMfaFailure,
  withMfaSuccess,
} from './throttle';

export const publicUser = (user: UserRecord): User => ({
  id: user.id,
  username: user.username,
  role: user.role,
});

/**
 * A hash to verify against when the username is unknown, so that a wrong name costs the same time
 * as a wrong password and the two cannot be told apart.
 */
const dummyHashes = new WeakMap<Deps['hasher'], Promise<string>>();
function dummyHash(deps: Deps): Promise<string> {
  let hash = dummyHashes.get(deps.hasher);
  if (!hash) {
    hash = deps.hasher.hashPassword('sparekey-dummy-password');
    dummyHashes.set(deps.hasher, hash);
  }
  return hash;
}

/**
 * Computes the dummy hash before the first request: otherwise the first unknown username would pay
 * for it and take twice as long as a known one.
 */
export async function prepareSignIn(deps: Deps): Promise<void> {
  await dummyHash(deps);
}

export async function login(
  deps: Deps,
  meta: RequestMeta,
  input: { username: string; password: string },
): Promise<LoginResponse> {
  await ensureAddressAllowed(deps, meta.ip);
  const user = await deps.store.findUserByUsername(input.username);
  const ok = await deps.hasher.verifyPassword(
    user ? user.passwordHash : await dummyHash(deps),
    input.password,
  );
  if (!user || !ok) {
    await recordAddressFailure(deps, meta.ip);
    await audit(deps, meta, 'login_failed', { subject: user });
    throw invalidCredentials();
  }

  const policy = await deps.store.getPolicy();
  switch (mfaStep(policy, user)) {
    case 'none': {
      const token = await startSession(deps, user);
      await audit(deps, meta, 'login_succeeded', {
        actor: user,
        subject: user,
        details: { method: 'password' },
      });
      return { status: 'ok', token, user: publicUser(user) };
    }
    case 'verify': {
      const methods: MfaMethod[] = backupCodeUsable(policy, user) ? ['totp', 'backup_code'] : ['totp'];
      return { status: 'mfa_required', mfaToken: await startChallenge(deps, user), methods };
    }
    case 'enroll': {
      // The secret is held with the challenge, not the account, until a first code proves the app has it.
      const secret = newTotpSecret();
      const mfaToken = await startChallenge(deps, user, secret);
      return { status: 'mfa_enroll', mfaToken, secret, otpauthUri: otpauthUri(secret, user.username) };
    }
  }
}

type Attempt =
  | { kind: 'ok'; user: UserRecord }
  | { kind: 'failed'; locked: boolean }
  | { kind: 'locked'; remainingMs: number };

/** The challenge and its user, or the error the client gets. Refuses locked accounts before any hashing. */
async function openChallenge(deps: Deps, meta: RequestMeta, mfaToken: string) {
  await ensureAddressAllowed(deps, meta.ip);
  const challenge = await readChallenge(deps, mfaToken);
  if (!challenge) throw expiredMfaToken();
  const user = await deps.store.getUser(challenge.userId);
  if (!user) throw expiredMfaToken();
  const lockedFor = mfaLockRemaining(user, deps.clock.now());
  if (lockedFor > 0) throw tooManyAttempts(lockedFor);
  return { challenge, user };
}

/** Applies one attempt's outcome to the user under the store's per-user lock. */
function settle(deps: Deps, user: UserRecord, check: (current: UserRecord) => UserRecord | null) {
  return deps.store.updateUser<Attempt>(user.id, (current) => {
    const lockedFor = mfaLockRemaining(current, deps.clock.now());
    // Another attempt locked the step while this one hashed.
    if (lockedFor > 0) return { user: null, result: { kind: 'locked', remainingMs: lockedFor } };
    const passed = check(current);
    if (passed) {
      const next = withMfaSuccess(passed);
      return { user: next, result: { kind: 'ok', user: next } };
    }
    const failed = withMfaFailure(deps, current);
    return { user: failed.user, result: { kind: 'failed', locked: failed.locked } };
  });
}

async function failAttempt(
  deps: Deps,
  meta: RequestMeta,
  user: UserRecord,
  method: MfaMethod | 'enrolment',
  locked: boolean,
): Promise<never> {
  await recordAddressFailure(deps, meta.ip);
  await audit(deps, meta, method === 'backup_code' ? 'backup_code_failed' : 'mfa_failed', {
    subject: user,
    details: { method },
  });
  if (locked) {
    await audit(deps, meta, 'mfa_locked', {
      subject: user,
      details: { minutes: deps.security.mfaLockoutMs / 60_000 },
    });
    throw tooManyAttempts(deps.security.mfaLockoutMs);
  }
  throw invalidCode();
}

async function completeSignIn(
  deps: Deps,
  meta: RequestMeta,
  challenge: TokenRecord,
  user: UserRecord,
  method: MfaMethod | 'enrolment',
): Promise<SessionResponse> {
  if (!(await finishChallenge(deps, challenge))) throw expiredMfaToken();
  const token = await startSession(deps, user);
  await audit(deps, meta, 'login_succeeded', { actor: user, subject: user, details: { method } });
  return { token, user: publicUser(user) };
}

export async function verifyMfa(
  deps: Deps,
  meta: RequestMeta,
  input: { mfaToken: string; method: MfaMethod; code: string },
): Promise<SessionResponse> {
  const { challenge, user } = await openChallenge(deps, meta, input.mfaToken);
  if (challenge.pendingSecret) {
    throw new ApiError(400, 'enrollment_required', 'Set up your authenticator app first.', {
      field: 'method',
    });
  }
  const now = deps.clock.now();
  let outcome: Attempt | null;

  if (input.method === 'totp') {
    outcome = await settle(deps, user, (current) => {
      const secret = current.mfa.secret;
      const step = secret ? verifyTotp(secret, input.code, now, current.mfa.lastStep) : null;
      return step === null ? null : { ...current, mfa: { ...current.mfa, lastStep: step } };
    });
  } else {
    const policy = await deps.store.getPolicy();
    const set = user.backupCodes;
    const canonical = normalizeCode(input.code);
    // Hashed before taking the user's lock, so concurrent attempts hash in parallel.
    const digest =
      set && canonical && backupCodeUsable(policy, user)
        ? await deps.hasher.codeDigest(canonical, Buffer.from(set.salt, 'base64'))
        : null;
    let spentNumber = 0;
    outcome = await settle(deps, user, (current) => {
      // The set may have been replaced or revoked while we hashed: only the set we hashed against counts.
      const currentSet = current.backupCodes;
      if (!digest || !set || !currentSet || currentSet.id !== set.id) return null;
      const index = findUnusedCode(currentSet, digest);
      if (index === -1) return null;
      const spent = currentSet.codes[index];
      // Stryker disable next-line ConditionalExpression: index comes from this array, so the check only narrows the type
      if (!spent) return null;
      spentNumber = spent.number;
      const codes = currentSet.codes.map((code, i) =>
        i === index ? { ...code, digest: null, usedAt: new Date(now).toISOString() } : code,
      );
      return { ...current, backupCodes: { ...currentSet, codes } };
    });
    if (outcome?.kind === 'ok') {
      const remaining = unusedCount(outcome.user);
      await audit(deps, meta, 'backup_code_used', {
        actor: outcome.user,
        subject: outcome.user,
        details: { number: spentNumber, remaining },
      });
      const session = await completeSignIn(deps, meta, challenge, outcome.user, 'backup_code');
      return { ...session, backupCodes: { remaining } };
    }
  }

  if (!outcome) throw expiredMfaToken();
  if (outcome.kind === 'locked') throw tooManyAttempts(outcome.remainingMs);
  if (outcome.kind === 'failed') return failAttempt(deps, meta, user, input.method, outcome.locked);
  return completeSignIn(deps, meta, challenge, outcome.user, input.method);
}

export async function enroll(
  deps: Deps,
  meta: RequestMeta,
  input: { mfaToken: string; code: string },
): Promise<SessionResponse> {
  const { challenge, user } = await openChallenge(deps, meta, input.mfaToken);
  const secret = challenge.pendingSecret;
  if (!secret) {
    throw new ApiError(400, 'enrollment_not_pending', 'This sign-in does not set up an authenticator.');
  }
  const now = deps.clock.now();
  const outcome = await settle(deps, user, (current) => {
    const step = verifyTotp(secret, input.code, now, null);
    if (step === null) return null;
    return {
      ...current,
      mfa: { type: 'totp', secret, enrolled: true, configureLater: false, lastStep: step },
    };
  });
  if (!outcome) throw expiredMfaToken();
  if (outcome.kind === 'locked') throw tooManyAttempts(outcome.remainingMs);
  if (outcome.kind === 'failed') return failAttempt(deps, meta, user, 'enrolment', outcome.locked);
  await audit(deps, meta, 'mfa_enrolled', { actor: outcome.user, subject: outcome.user });
  return completeSignIn(deps, meta, challenge, outcome.user, 'enrolment');
}

/** Ends the session behind `token` (API or web) and records who signed out. */
export async function signOut(deps: Deps, meta: RequestMeta, token: string): Promise<void> {
  const user = await resolveSession(deps, token);
  await endSession(deps, token);
  if (user) await audit(deps, meta, 'logout', { actor: user, subject: user });
}
