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
import { type MfaRecord, UsernameTakenError, type UserRecord } from '../store/types';
import { audit } from './audit';
import { publicUser } from './auth';
import { unusedCount } from './mfa-policy';
import { checkNewPassword, generatePassword } from './password-rules';

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
    mfaFailures: [],
    mfaLockedUntil: null,
  };
}

export function adminView(user: UserRecord): AdminUser {
  const set = user.backupCodes;
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
  };
}

export async function createUser(
  deps: Deps,
  meta: RequestMeta,
  admin: UserRecord,
  input: Required<CreateUserRequest>,
): Promise<User> {
  checkNewPassword(input.password, 'password', { username: input.username });
  const user = await newUserRecord(deps, input.username, input.password, input.role);
  try {
    await deps.store.createUser(user);
  } catch (error) {
    if (error instanceof UsernameTakenError) {
      throw new ApiError(409, 'username_taken', 'That username is already taken.', { field: 'username' });
    }
    throw error;
  }
  await audit(deps, meta, 'user_created', { actor: admin, subject: user, details: { role: user.role } });
  return publicUser(user);
}

async function otherAdminsExist(deps: Deps, userId: string): Promise<boolean> {
  return (await deps.store.listAdminIds()).some((id) => id !== userId);
}

const lastAdmin = () =>
  new ApiError(
    409,
    'last_admin',
    'This is the last administrator: make another user an administrator first.',
  );

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
  if (request.role === 'user' && !(await otherAdminsExist(deps, userId))) {
    const target = await deps.store.getUser(userId);
    if (target?.role === 'admin') throw lastAdmin();
  }
  const mfa = request.mfa ? mfaChange(request.mfa) : null;
  const updated = await deps.store.updateUser(userId, (current) => {
    const next: UserRecord = { ...current, role: request.role ?? current.role };
    if (mfa) {
      next.mfa = mfa;
      next.mfaFailures = [];
      next.mfaLockedUntil = null;
      // Codes are the fallback of an MFA method: a reset or a new authenticator voids the old ones.
      next.backupCodes = null;
    }
    return { user: next, result: next };
  });
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
  const response: UpdatedUser = { user: adminView(updated) };
  if (mfa?.secret)
    response.totp = { secret: mfa.secret, otpauthUri: otpauthUri(mfa.secret, updated.username) };
  return response;
}

export async function deleteUser(deps: Deps, meta: RequestMeta, admin: UserRecord, userId: string) {
  const target = await deps.store.getUser(userId);
  if (!target) throw notFound('User');
  if (target.role === 'admin' && !(await otherAdminsExist(deps, userId))) throw lastAdmin();
  await deps.store.deleteUser(userId);
  await audit(deps, meta, 'user_deleted', { actor: admin, subject: target });
}

export async function setPolicy(deps: Deps, meta: RequestMeta, admin: UserRecord, policy: Policy) {
  const before = await deps.store.getPolicy();
  await deps.store.setPolicy(policy);
  await audit(deps, meta, 'policy_changed', {
    actor: admin,
    details: {
      mfaUsage: policy.mfaUsage,
      backupCodesEnabled: policy.backupCodes.enabled,
      count: policy.backupCodes.count,
      warnWhenRemaining: policy.backupCodes.warnWhenRemaining,
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
