/**
 * Backup codes: generated once per set, kept as raw argon2id digests under one salt per set,
 * so checking an attempt costs one hash however many codes the set holds.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { GeneratedCodes } from '../../shared/api';
import { formatCode, generateCode } from '../../shared/codes';
import type { Deps, RequestMeta } from '../deps';
import { ApiError, invalidCredentials, notFound } from '../http/errors';
import type { BackupCodeSet, UserRecord } from '../store/types';
import { audit } from './audit';
import { backupCodeReason } from './mfa-policy';
import { releaseAddressAttempt, reserveAddressAttempt } from './throttle';

/**
 * The index of the code (unused or spent) whose digest equals `digest`, or -1. Every digest is
 * compared, in constant time, so the response time says nothing about which code (if any) was close.
 */
export function findCode(set: BackupCodeSet, digest: Buffer): number {
  let found = -1;
  set.codes.forEach((code, index) => {
    if (code.digest === null) return;
    const stored = Buffer.from(code.digest, 'base64');
    if (stored.length === digest.length && timingSafeEqual(stored, digest) && found === -1) found = index;
  });
  return found;
}

/** Re-authenticates the user, then replaces their whole set at once: the old codes die with it. */
export async function generateBackupCodes(
  deps: Deps,
  meta: RequestMeta,
  user: UserRecord,
  password: string,
): Promise<GeneratedCodes> {
  const attempt = await reserveAddressAttempt(deps, meta.ip);
  // A wrong password keeps the address's slot: it is the failure.
  if (!(await deps.hasher.verifyPassword(user.passwordHash, password))) throw invalidCredentials();
  await releaseAddressAttempt(deps, attempt);
  const policy = await deps.store.getPolicy();
  const reason = backupCodeReason(policy, user);
  if (reason) throw new ApiError(403, reason.code, reason.message);

  const salt = randomBytes(16);
  const codes = Array.from({ length: policy.backupCodes.count }, generateCode);
  const digests = await Promise.all(codes.map((code) => deps.hasher.codeDigest(code, salt)));
  const generatedAt = new Date(deps.clock.now()).toISOString();
  const set: BackupCodeSet = {
    id: randomUUID(),
    salt: salt.toString('base64'),
    generatedAt,
    codes: digests.map((digest, i) => ({ number: i + 1, digest: digest.toString('base64'), usedAt: null })),
  };
  const saved = await deps.store.updateUser(user.id, (current) => ({
    user: { ...current, backupCodes: set },
    result: true,
  }));
  if (!saved) throw notFound('User');
  await audit(deps, meta, 'backup_codes_generated', {
    actor: user,
    subject: user,
    details: { count: codes.length },
  });
  return { codes: codes.map((code, i) => ({ number: i + 1, code: formatCode(code) })), generatedAt };
}

export async function revokeBackupCodes(deps: Deps, meta: RequestMeta, admin: UserRecord, userId: string) {
  const subject = await deps.store.updateUser(userId, (current) => ({
    user: { ...current, backupCodes: null },
    result: current,
  }));
  if (!subject) throw notFound('User');
  await audit(deps, meta, 'backup_codes_revoked', { actor: admin, subject });
}
