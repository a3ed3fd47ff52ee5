/**
 * The sign-in: password, then the MFA step the policy asks for (a TOTP code, a backup code, or
 * enrolment of an authenticator). Both the JSON API and the web sign-in screen go through here.
 */
import type { LoginResponse, MfaMethod, SessionResponse, User } from '../../shared/api';
import { normalizeCode } from '../../shared/codes';
import { newTotpSecret, otpauthUri, verifyTotp } from '../crypto/totp';
import type { Deps, RequestMeta } from '../deps';
import {
  ApiError,
  codeAlreadyUsed,
  expiredMfaToken,
  invalidCode,
  invalidCredentials,
  tooManyAttempts,
  totpAlreadyUsed,
} from '../http/errors';
import type { NewAuditEvent, TokenRecord, UserRecord } from '../store/types';
import { audit, auditEvent } from './audit';
import { findCode } from './backup-codes';
import { backupCodeReason, backupCodeUsable, mfaStep, unusedCount } from './mfa-policy';
import {
  endSession,
  finishChallenge,
  mfaFingerprint,
  readChallenge,
  resolveSession,
  startChallenge,
  startSession,
} from './sessions';
import {
  type AddressAttempt,
  accountLocked,
  type FailureOutcome,
  keepAddressAttempt,
  type LockState,
  lockRefusal,
  lockState,
  mfaRule,
  passwordRule,
  releaseAddressAttempt,
  reserveAddressAttempt,
  withFailure,
  withReservation,
  withSuccess,
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
    // Stryker disable next-line StringLiteral: any text does; the result of checking against it is never used
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

/**
 * Checks the password of `user` with its lockout reserved first, under the user's lock, so that
 * concurrent guesses at one account never exceed the limit; settles the outcome under the same lock.
 * Resolves the user record after a success.
 */
export async function checkPassword(
  deps: Deps,
  meta: RequestMeta,
  user: UserRecord,
  password: string,
  attempt: AddressAttempt | null,
  wrongPassword: () => ApiError = invalidCredentials,
): Promise<UserRecord> {
  const rule = passwordRule(deps.security);
  const refusal = await deps.store.updateUser<ApiError | null>(user.id, (current) => {
    const reserved = withReservation(current.passwordLockout, rule, deps.clock.now());
    if (reserved.refusal) return { user: null, result: reserved.refusal };
    return { user: { ...current, passwordLockout: reserved.lockout }, result: null };
  });
  if (refusal) {
    await releaseAddressAttempt(deps, attempt);
    throw refusal;
  }

  const ok = await deps.hasher.verifyPassword(user.passwordHash, password);
  const now = deps.clock.now();
  type Settled = { kind: 'ok'; user: UserRecord } | { kind: 'failed'; outcome: FailureOutcome } | ApiError;
  const settling = deps.store.updateUser<Settled>(user.id, (current) => {
    if (ok) {
      const state = lockState(current.passwordLockout, now);
      // Another attempt locked the account while this one hashed: the lock holds for everyone.
      if (state.kind !== 'open') return { user: null, result: lockRefusal(state, 0) };
      const next = { ...current, passwordLockout: withSuccess() };
      return { user: next, result: { kind: 'ok', user: next } };
    }
    const failed = withFailure(current.passwordLockout, rule, now, true);
    return {
      user: { ...current, passwordLockout: failed.lockout },
      result: { kind: 'failed', outcome: failed.outcome },
      audit: failureEvents(deps, meta, user, 'login_failed', undefined, 'password_locked', failed.outcome),
    };
  });
  // Issued together, so that their writes go in one batch (Store.keepIpAttempts).
  const [settled] = await Promise.all([settling, keepAddressAttempt(deps, attempt)]);
  // A wrong password keeps the address's slot (it is the failure); anything else gives it back.
  if (!settled || settled instanceof ApiError || settled.kind !== 'failed') {
    await releaseAddressAttempt(deps, attempt);
  }
  // The account was deleted while the password was checked.
  if (!settled) throw invalidCredentials();
  if (settled instanceof ApiError) throw settled;
  if (settled.kind === 'ok') return settled.user;
  throw failureRefusal(settled.outcome, wrongPassword);
}

/**
 * A name no account has goes through the steps of a wrong password at an account: a lockout of its
 * own reserved and settled durably around one hash, the same answers and the same locks, so that
 * neither the answer nor its timing tells whether the account exists. It keeps the address's slot.
 */
async function refuseUnknownName(
  deps: Deps,
  meta: RequestMeta,
  input: { username: string; password: string },
  attempt: AddressAttempt | null,
): Promise<never> {
  const rule = passwordRule(deps.security);
  const refusal = await deps.store.updateUnknownNameLockout(input.username, (lockout) => {
    const reserved = withReservation(lockout, rule, deps.clock.now());
    return { lockout: reserved.lockout, result: reserved.refusal };
  });
  if (refusal) {
    await releaseAddressAttempt(deps, attempt);
    throw refusal;
  }
  await deps.hasher.verifyPassword(await dummyHash(deps), input.password);
  const now = deps.clock.now();
  const [outcome] = await Promise.all([
    deps.store.updateUnknownNameLockout(input.username, (lockout) => {
      const failed = withFailure(lockout, rule, now, true);
      return { lockout: failed.lockout, result: failed.outcome };
    }),
    keepAddressAttempt(deps, attempt),
  ]);
  const events = failureEvents(deps, meta, null, 'login_failed', undefined, 'password_locked', outcome);
  for (const event of events) await deps.store.appendAudit(event);
  throw failureRefusal(outcome, invalidCredentials);
}

/** The answer to a failure: the plain refusal, or the lock it caused. */
function failureRefusal(outcome: FailureOutcome, plain: () => ApiError): ApiError {
  if (outcome.kind === 'locked') return tooManyAttempts(outcome.lockMs);
  if (outcome.kind === 'admin') return accountLocked();
  return plain();
}

/**
 * The audit events of a failed attempt: the failure itself, then the lock it caused, if any (a timed
 * one, or one that waits for an admin). No user: an unknown name.
 */
function failureEvents(
  deps: Deps,
  meta: RequestMeta,
  user: UserRecord | null,
  type: 'login_failed' | 'backup_code_failed' | 'mfa_failed',
  details: { method: MfaMethod | 'enrolment' } | undefined,
  lockType: 'password_locked' | 'mfa_locked',
  outcome: FailureOutcome,
): NewAuditEvent[] {
  const failure = auditEvent(deps, meta, type, { subject: user, ...(details ? { details } : {}) });
  if (outcome.kind === 'locked') {
    const lock = { minutes: outcome.lockMs / 60_000, lock: outcome.lock };
    return [failure, auditEvent(deps, meta, lockType, { subject: user, details: lock })];
  }
  if (outcome.kind === 'admin') {
    const lock = { needsAdminUnlock: true, consecutiveFailures: outcome.consecutiveFailures };
    return [failure, auditEvent(deps, meta, lockType, { subject: user, details: lock })];
  }
  return [failure];
}

export async function login(
  deps: Deps,
  meta: RequestMeta,
  input: { username: string; password: string },
): Promise<LoginResponse> {
  const attempt = await reserveAddressAttempt(deps, meta.ip);
  const found = await deps.store.findUserByUsername(input.username);
  if (!found) return refuseUnknownName(deps, meta, input, attempt);
  const user = await checkPassword(deps, meta, found, input.password, attempt);

  const policy = await deps.store.getPolicy();
  switch (mfaStep(policy, user)) {
    case 'none': {
      const token = await startSession(deps, user, 'none');
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
  | { kind: 'failed'; outcome: FailureOutcome }
  | { kind: 'locked'; state: LockState }
  /** The challenge no longer matches the account (it changed since): no guess was judged. */
  | { kind: 'stale' }
  /** The code submitted was already spent (a backup code, or an authenticator code's step): no guess either. */
  | { kind: 'already_used' };

/** What one attempt's check found: the record to write, a wrong code, or a refusal that judged nothing. */
type Check = UserRecord | null | 'stale' | 'already_used';

/**
 * The challenge and its user, or the error the client gets. Reserves the address's slot first and
 * refuses locked accounts before any hashing.
 */
async function openChallenge(deps: Deps, meta: RequestMeta, mfaToken: string) {
  const attempt = await reserveAddressAttempt(deps, meta.ip);
  try {
    const challenge = await readChallenge(deps, mfaToken);
    if (!challenge) throw expiredMfaToken();
    const user = await deps.store.getUser(challenge.userId);
    if (!user) throw expiredMfaToken();
    const state = lockState(user.mfaLockout, deps.clock.now());
    if (state.kind !== 'open') throw lockRefusal(state, 0);
    return { challenge, user, attempt };
  } catch (error) {
    await releaseAddressAttempt(deps, attempt);
    throw error;
  }
}

/**
 * Applies one attempt's outcome to the user under the store's per-user lock, a failure with its
 * audit events; resolves once that and the address's reservation are durable.
 */
async function settle(
  deps: Deps,
  meta: RequestMeta,
  {
    user,
    attempt,
    method,
  }: { user: UserRecord; attempt: AddressAttempt | null; method: MfaMethod | 'enrolment' },
  check: (current: UserRecord) => Check,
): Promise<Attempt | null> {
  const now = deps.clock.now();
  const failure = method === 'backup_code' ? 'backup_code_failed' : 'mfa_failed';
  const settling = deps.store.updateUser<Attempt>(user.id, (current) => {
    const state = lockState(current.mfaLockout, now);
    // Another attempt locked the step while this one hashed.
    if (state.kind !== 'open') return { user: null, result: { kind: 'locked', state } };
    const passed = check(current);
    if (passed === 'stale' || passed === 'already_used') return { user: null, result: { kind: passed } };
    if (passed) {
      const next = { ...passed, mfaLockout: withSuccess() };
      return { user: next, result: { kind: 'ok', user: next } };
    }
    const failed = withFailure(current.mfaLockout, mfaRule(deps.security), now, false);
    return {
      user: { ...current, mfaLockout: failed.lockout },
      result: { kind: 'failed', outcome: failed.outcome },
      audit: failureEvents(deps, meta, current, failure, { method }, 'mfa_locked', failed.outcome),
    };
  });
  // Issued together, so that their writes go in one batch (Store.keepIpAttempts).
  const [outcome] = await Promise.all([settling, keepAddressAttempt(deps, attempt)]);
  return outcome;
}

/**
 * Turns an attempt that did not sign in into its answer. A failure keeps the address's slot (its
 * audit events were committed with it, in settle); a refusal that judged no secret gives the slot back.
 */
async function refuseAttempt(
  deps: Deps,
  method: MfaMethod | 'enrolment',
  outcome: Exclude<Attempt, { kind: 'ok' }> | null,
  attempt: AddressAttempt | null,
): Promise<never> {
  if (outcome?.kind !== 'failed') await releaseAddressAttempt(deps, attempt);
  if (!outcome || outcome.kind === 'stale') throw expiredMfaToken();
  if (outcome.kind === 'locked') throw lockRefusal(outcome.state, 0);
  if (outcome.kind === 'already_used') throw method === 'totp' ? totpAlreadyUsed() : codeAlreadyUsed();
  throw failureRefusal(outcome.outcome, invalidCode);
}

async function completeSignIn(
  deps: Deps,
  meta: RequestMeta,
  challenge: TokenRecord,
  user: UserRecord,
  method: MfaMethod | 'enrolment',
  attempt: AddressAttempt | null,
): Promise<SessionResponse> {
  await releaseAddressAttempt(deps, attempt);
  if (!(await finishChallenge(deps, challenge))) throw expiredMfaToken();
  const token = await startSession(deps, user, method);
  await audit(deps, meta, 'login_succeeded', { actor: user, subject: user, details: { method } });
  return { token, user: publicUser(user) };
}

export async function verifyMfa(
  deps: Deps,
  meta: RequestMeta,
  input: { mfaToken: string; method: MfaMethod; code: string },
): Promise<SessionResponse> {
  const { challenge, user, attempt } = await openChallenge(deps, meta, input.mfaToken);
  if (challenge.pendingSecret) {
    await releaseAddressAttempt(deps, attempt);
    throw new ApiError(400, 'enrollment_required', 'Set up your authenticator app first.', {
      field: 'method',
    });
  }
  const now = deps.clock.now();
  let outcome: Attempt | null;

  if (input.method === 'totp') {
    outcome = await settle(deps, meta, { user, attempt, method: input.method }, (current) => {
      const secret = current.mfa.secret;
      const step = secret ? verifyTotp(secret, input.code, now, current.mfa.lastStep) : null;
      // A right code submitted twice (a double click, a resent form) is not a guess: no lockout count.
      if (step === 'replayed') return 'already_used';
      return step === null ? null : { ...current, mfa: { ...current.mfa, lastStep: step } };
    });
  } else {
    const policy = await deps.store.getPolicy();
    const set = user.backupCodes;
    const canonical = normalizeCode(input.code);
    // Hashed before taking the user's lock, so concurrent attempts hash in parallel. Hashed even when
    // no code is left unused, so a spent code of an exhausted set is still told apart from a wrong one.
    const digest =
      set && canonical && backupCodeReason(policy, user) === null
        ? await deps.hasher.codeDigest(canonical, Buffer.from(set.salt, 'base64'))
        : null;
    let spentNumber = 0;
    outcome = await settle(deps, meta, { user, attempt, method: input.method }, (current) => {
      // The set may have been replaced or revoked while we hashed: only the set we hashed against counts.
      const currentSet = current.backupCodes;
      if (!digest || !set || !currentSet || currentSet.id !== set.id) return null;
      const index = findCode(currentSet, digest);
      const match = currentSet.codes[index];
      if (!match) return null;
      // The stored state, not this process's memory, says the code was spent: true across instances.
      if (match.usedAt !== null) return 'already_used';
      spentNumber = match.number;
      const codes = currentSet.codes.map((code, i) =>
        i === index ? { ...code, usedAt: new Date(now).toISOString() } : code,
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
      const session = await completeSignIn(deps, meta, challenge, outcome.user, 'backup_code', attempt);
      return { ...session, backupCodes: { remaining } };
    }
  }

  if (outcome?.kind !== 'ok') return refuseAttempt(deps, input.method, outcome, attempt);
  return completeSignIn(deps, meta, challenge, outcome.user, input.method, attempt);
}

export async function enroll(
  deps: Deps,
  meta: RequestMeta,
  input: { mfaToken: string; code: string },
): Promise<SessionResponse> {
  const { challenge, user, attempt } = await openChallenge(deps, meta, input.mfaToken);
  const secret = challenge.pendingSecret;
  if (!secret) {
    await releaseAddressAttempt(deps, attempt);
    throw new ApiError(400, 'enrollment_not_pending', 'This sign-in does not set up an authenticator.');
  }
  const now = deps.clock.now();
  const outcome = await settle(deps, meta, { user, attempt, method: 'enrolment' }, (current) => {
    // Only while the account is still unenrolled and its MFA record is the one this challenge was
    // issued against: an older challenge must not replace an authenticator enrolled since.
    if (current.mfa.enrolled || challenge.mfaFingerprint !== mfaFingerprint(current)) return 'stale';
    const step = verifyTotp(secret, input.code, now, null);
    if (typeof step !== 'number') return null;
    return {
      ...current,
      mfa: { type: 'totp', secret, enrolled: true, configureLater: false, lastStep: step },
    };
  });
  if (!outcome || outcome.kind === 'stale') await deps.store.deleteToken(challenge.hash);
  // Stryker disable next-line StringLiteral: the method only names a spent code, which an enrolment never meets
  if (outcome?.kind !== 'ok') return refuseAttempt(deps, 'enrolment', outcome, attempt);
  await audit(deps, meta, 'mfa_enrolled', { actor: outcome.user, subject: outcome.user });
  const session = await completeSignIn(deps, meta, challenge, outcome.user, 'enrolment', attempt);
  // Every other sign-in in progress was issued against the account without this authenticator.
  await deps.store.deleteTokensOfUser(outcome.user.id, 'mfa');
  return session;
}

/** Ends the session behind `token` (API or web) and records who signed out. */
export async function signOut(deps: Deps, meta: RequestMeta, token: string): Promise<void> {
  // A session the policy no longer accepts is already ended: signing out of it just succeeds.
  const user = await resolveSession(deps, token).catch((error) => {
    if (error instanceof ApiError && error.code === 'mfa_step_required') return null;
    throw error;
  });
  await endSession(deps, token);
  if (user) await audit(deps, meta, 'logout', { actor: user, subject: user });
}
