/**
 * Changing a password (the user, proving the current one) and resetting it (an admin, who sets or
 * has the server generate a temporary one the user must replace at the next sign-in).
 */
import { unlink } from 'node:fs/promises';
import type { ChangePasswordRequest, ResetPassword, ResetPasswordRequest } from '../../shared/api';
import type { Deps, RequestMeta } from '../deps';
import { ApiError, notFound } from '../http/errors';
import type { UserRecord } from '../store/types';
import { audit } from './audit';
import { checkPassword } from './auth';
import { checkNewPassword, generatePassword } from './password-rules';
import { sessionMfaPassed, startSession } from './sessions';
import { reserveAddressAttempt } from './throttle';
import { adminView } from './users';

const wrongCurrentPassword = () =>
  new ApiError(401, 'invalid_credentials', 'That is not your current password.', {
    field: 'currentPassword',
  });

/**
 * Replaces the user's password after checking the current one. Every session and sign-in challenge
 * of the account ends, the caller's too: it gets a fresh session token back, since the session's
 * rights changed (a forced change lifts its restriction) and a session that may have been seen by
 * whoever knew the old password must not outlive it.
 */
export async function changePassword(
  deps: Deps,
  meta: RequestMeta,
  user: UserRecord,
  input: ChangePasswordRequest,
  sessionToken: string,
): Promise<{ token: string }> {
  // The current password is a password guess like any other: the same per-address and per-account brakes.
  const attempt = await reserveAddressAttempt(deps, meta.ip);
  await checkPassword(deps, meta, user, input.currentPassword, attempt, wrongCurrentPassword);
  checkNewPassword(input.newPassword, 'newPassword', { username: user.username });
  // A temporary password an admin handed over must not simply be kept.
  if (await deps.hasher.verifyPassword(user.passwordHash, input.newPassword)) {
    throw new ApiError(400, 'weak_password', 'Choose a password different from the current one.', {
      field: 'newPassword',
    });
  }
  const passwordHash = await deps.hasher.hashPassword(input.newPassword);
  const changed = await deps.store.updateUser(user.id, (current) => {
    // Under the user's lock: if the password changed since we verified it, the proof is stale.
    if (current.passwordHash !== user.passwordHash) return { user: null, result: null };
    const next: UserRecord = { ...current, passwordHash, mustChangePassword: false };
    return { user: next, result: { next, wasForced: Boolean(current.mustChangePassword) } };
  });
  if (!changed) throw wrongCurrentPassword();

  const mfaPassed = await sessionMfaPassed(deps, sessionToken);
  await deps.store.deleteTokensOfUser(user.id);
  const token = await startSession(deps, changed.next, mfaPassed);
  await audit(deps, meta, 'password_changed', {
    actor: changed.next,
    subject: changed.next,
    details: { forced: changed.wasForced },
  });
  if (changed.wasForced && deps.initialPassword?.userId === user.id) {
    // The generated first password is retired: its copy on disk goes with it.
    await unlink(deps.initialPassword.file).catch(() => undefined);
  }
  return { token };
}

/**
 * Sets a temporary password (given, or generated and returned this once) and ends the user's sessions.
 * `admin` is null when the server host makes the change (`npm run admin`).
 */
export async function resetPassword(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord | null,
  userId: string,
  input: ResetPasswordRequest,
): Promise<ResetPassword> {
  const target = await deps.store.getUser(userId);
  if (!target) throw notFound('User');
  if (input.password !== undefined)
    checkNewPassword(input.password, 'password', { username: target.username });
  const password = input.password ?? generatePassword();
  const passwordHash = await deps.hasher.hashPassword(password);
  const updated = await deps.store.updateUser(userId, (current) => {
    const next: UserRecord = { ...current, passwordHash, mustChangePassword: true };
    return { user: next, result: next };
  });
  if (!updated) throw notFound('User');
  await deps.store.deleteTokensOfUser(userId);
  await audit(deps, meta, 'password_reset', {
    actor: admin,
    subject: updated,
    details: { generated: input.password === undefined },
  });
  return {
    user: adminView(updated, deps.clock.now()),
    ...(input.password === undefined ? { password } : {}),
  };
}
