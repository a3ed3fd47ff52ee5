/** Accounts, as the admin manages them, and the first admin of an empty store. */
import { randomUUID } from 'node:crypto';
import type {
  AdminUser,
  CreateUserRequest,
  Policy,
  Role,
  UpdatedUser,
  UpdateUserRequest,
  User,
} from '../../shared/api';
import { newTotpSecret, otpauthUri } from '../crypto/totp';
import type { Deps, RequestMeta } from '../deps';
import { ApiError, notFound } from '../http/errors';
import { PolicySchema } from '../store/records';
import {
  DamagedAccountError,
  LastAdminError,
  type MfaRecord,
  UsernameTakenError,
  type UserRecord,
} from '../store/types';
import { audit } from './audit';
import { publicUser } from './auth';
import { unusedCount } from './mfa-policy';
import { checkNewPassword, generatePassword } from './password-rules';
import { lockState, OPEN_LOCKOUT } from './throttle';

const NO_MFA: MfaRecord = {
  type: 'none',
  secret: null,
  enrolled: false,
  configureLater: false,
  lastStep: null,
};

export async function newUserRecord(
  deps: Deps,
  username: string,
  password: string,
  role: Role,
): Promise<UserRecord> {
  return {
    id: randomUUID(),
    username,
    role,
    passwordHash: await deps.hasher.hashPassword(password),
    createdAt: new Date(deps.clock.now()).toISOString(),
    mfa: NO_MFA,
    backupCodes: null,
    passwordLockout: OPEN_LOCKOUT,
    mfaLockout: OPEN_LOCKOUT,
  };
}

/** What an admin sees of one account; `now` decides whether a timed lock still runs. */
export function adminView(user: UserRecord, now: number): AdminUser {
  const set = user.backupCodes;
  const running = [user.passwordLockout, user.mfaLockout].flatMap((lockout) => {
    const state = lockState(lockout, now);
    return state.kind === 'locked' && lockout.lockedUntil ? [lockout.lockedUntil] : [];
  });
  const usedTimes = set?.codes.flatMap((c) => (c.usedAt ? [c.usedAt] : [])) ?? [];
  return {
    ...publicUser(user),
    createdAt: user.createdAt,
    mustChangePassword: Boolean(user.mustChangePassword),
    mfa: { type: user.mfa.type, enrolled: user.mfa.enrolled, configureLater: user.mfa.configureLater },
    backupCodes: {
      total: set?.codes.length ?? 0,
      remaining: unusedCount(user),
      generatedAt: set?.generatedAt ?? null,
      lastUsedAt: usedTimes.sort().at(-1) ?? null,
    },
    lockout: {
      lockedUntil: running.sort().at(-1) ?? null,
      needsAdminUnlock: user.passwordLockout.needsAdminUnlock || user.mfaLockout.needsAdminUnlock,
      consecutiveFailures: Math.max(
        user.passwordLockout.consecutiveFailures,
        user.mfaLockout.consecutiveFailures,
      ),
    },
  };
}

/**
 * Ends both lockouts of an account (a timed lock, or one waiting for an admin) and audits it. `admin`
 * is null when the server host makes the change (`npm run admin`).
 */
export async function unlockUser(deps: Deps, meta: RequestMeta, admin: UserRecord | null, userId: string) {
  const before = await deps.store.updateUser(userId, (current) => ({
    user: { ...current, passwordLockout: OPEN_LOCKOUT, mfaLockout: OPEN_LOCKOUT },
    result: current,
  }));
  if (!before) throw notFound('User');
  const was = adminView(before, deps.clock.now()).lockout;
  await audit(deps, meta, 'user_unlocked', {
    actor: admin,
    subject: before,
    details: {
      lockedUntil: was.lockedUntil,
      needsAdminUnlock: was.needsAdminUnlock,
      consecutiveFailures: was.consecutiveFailures,
    },
  });
  return adminView({ ...before, passwordLockout: OPEN_LOCKOUT, mfaLockout: OPEN_LOCKOUT }, deps.clock.now());
}

export async function createUser(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord,
  input: Omit<Required<CreateUserRequest>, 'temporary'> & { temporary?: boolean },
): Promise<User> {
  checkNewPassword(input.password, 'password', { username: input.username });
  const user = await newUserRecord(deps, input.username, input.password, input.role);
  // A password the admin chose is known to two people: the user replaces it first, as after a reset.
  if (input.temporary) user.mustChangePassword = true;
  try {
    await deps.store.createUser(user);
  } catch (error) {
    if (error instanceof UsernameTakenError) {
      throw new ApiError(409, 'username_taken', 'That username is already taken.', { field: 'username' });
    }
    throw error;
  }
  await audit(deps, meta, 'user_created', {
    actor: admin,
    subject: user,
    details: { role: user.role, temporary: Boolean(input.temporary) },
  });
  return publicUser(user);
}

/** The store's LastAdminError as the API's 409; anything else passes through. */
function lastAdminRefusal(error: unknown): never {
  if (error instanceof LastAdminError) {
    throw new ApiError(
      409,
      'last_admin',
      'This is the last administrator: make another user an administrator first.',
    );
  }
  throw error;
}

function mfaChange(request: NonNullable<UpdateUserRequest['mfa']>): MfaRecord {
  if (request.type === 'none') return NO_MFA;
  if (request.configureLater) return { ...NO_MFA, type: 'totp', configureLater: true };
  return { type: 'totp', secret: newTotpSecret(), enrolled: true, configureLater: false, lastStep: null };
}

/** `admin` is null when the server host makes the change (`npm run admin`). */
export async function updateUser(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord | null,
  userId: string,
  request: UpdateUserRequest,
): Promise<UpdatedUser> {
  const mfa = request.mfa ? mfaChange(request.mfa) : null;
  // The store checks "another admin remains" in the same lock (transaction) as the change: two admins
  // demoting each other at once cannot both succeed.
  const updated = await deps.store
    .updateUserKeepingAnAdmin(userId, (current) => {
      const next: UserRecord = { ...current, role: request.role ?? current.role };
      if (mfa) {
        next.mfa = mfa;
        next.mfaLockout = OPEN_LOCKOUT;
        // Codes are the fallback of an MFA method: a reset or a new authenticator voids the old ones.
        next.backupCodes = null;
      }
      return { user: next, result: next };
    })
    .catch(lastAdminRefusal);
  if (!updated) throw notFound('User');

  if (request.role) {
    await audit(deps, meta, 'user_updated', {
      actor: admin,
      subject: updated,
      details: { role: request.role },
    });
  }
  if (request.mfa) {
    const type = request.mfa.type === 'none' ? 'mfa_reset' : 'mfa_configured';
    await deps.store.deleteTokensOfUser(updated.id);
    await audit(deps, meta, type, {
      actor: admin,
      subject: updated,
      details: { type: request.mfa.type, configureLater: Boolean(request.mfa.configureLater) },
    });
  }
  const response: UpdatedUser = { user: adminView(updated, deps.clock.now()) };
  if (mfa?.secret)
    response.totp = { secret: mfa.secret, otpauthUri: otpauthUri(mfa.secret, updated.username) };
  return response;
}

export async function deleteUser(deps: Deps, meta: RequestMeta, admin: UserRecord, userId: string) {
  // A damaged account can be deleted: what the index knows of it (name, role) is enough.
  const target = await deps.store.getUser(userId).catch((error: unknown) => {
    if (error instanceof DamagedAccountError) return error.account;
    throw error;
  });
  // Stryker disable next-line ConditionalExpression: the store's delete of an unknown id is the same 404 just below
  if (!target) throw notFound('User');
  if (!(await deps.store.deleteUserKeepingAnAdmin(userId).catch(lastAdminRefusal))) throw notFound('User');
  await audit(deps, meta, 'user_deleted', { actor: admin, subject: target });
}

export async function setPolicy(deps: Deps, meta: RequestMeta, admin: UserRecord, input: Policy) {
  const policy = PolicySchema.parse(input);
  const before = await deps.store.getPolicy();
  await deps.store.setPolicy(policy);
  await audit(deps, meta, 'policy_changed', {
    actor: admin,
    details: {
      mfaUsage: policy.mfaUsage,
      backupCodesEnabled: policy.backupCodes.enabled,
      count: policy.backupCodes.count,
      warnWhenRemaining: policy.backupCodes.warnWhenRemaining,
      adminsMustUseMfa: policy.adminsMustUseMfa,
      previousMfaUsage: before.mfaUsage,
    },
  });
  return policy;
}

/**
 * An empty store gets the account `admin`, with BOOTSTRAP_ADMIN_PASSWORD (checked by loadConfig
 * against the password rule) or a generated password that the caller shows once and writes to a
 * 0600 file; a generated one must be changed at the first sign-in.
 */
export async function bootstrapAdmin(
  deps: Deps,
  password: string | null,
): Promise<{ created: boolean; generatedPassword: string | null; adminId: string | null }> {
  if ((await deps.store.countUsers()) > 0) return { created: false, generatedPassword: null, adminId: null };
  const generatedPassword = password ? null : generatePassword();
  const admin = await newUserRecord(deps, 'admin', password ?? generatedPassword ?? '', 'admin');
  if (generatedPassword) admin.mustChangePassword = true;
  try {
    await deps.store.createUser(admin);
  } catch (error) {
    // Another instance on the same database created it first.
    if (error instanceof UsernameTakenError)
      return { created: false, generatedPassword: null, adminId: null };
    throw error;
  }
  return { created: true, generatedPassword, adminId: admin.id };
}
