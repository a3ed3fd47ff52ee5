/**
 * Lifts an account's sign-in lockout and audits it (`npm run admin -- unlock`). Written against
 * main's lockout fields (mfaFailures, mfaLockedUntil); when the security round's lockouts land
 * (escalating locks, password lockout, needs-admin-unlock), this one function becomes a call to
 * their unlockUser (services/users.ts), whose audit event is the same `user_unlocked`.
 */
import type { Deps, RequestMeta } from '../deps';
import { notFound } from '../http/errors';
import type { UserRecord } from '../store/types';
import { audit } from './audit';
import { withMfaSuccess } from './throttle';

/** `admin` is null when the server host makes the change. */
export async function unlockAccount(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord | null,
  userId: string,
): Promise<void> {
  // The state before, read and cleared under the user's lock, so the audit says what was lifted.
  const before = await deps.store.updateUser(userId, (current) => ({
    user: withMfaSuccess(current),
    result: current,
  }));
  if (!before) throw notFound('User');
  await audit(deps, meta, 'user_unlocked', {
    actor: admin,
    subject: before,
    details: { lockedUntil: before.mfaLockedUntil, recentFailures: before.mfaFailures.length },
  });
}
