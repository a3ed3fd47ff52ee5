/** API bodies the component tests reply with, shaped by shared/api.ts. */
import type { AdminUser, AuditEvent, Me, Policy } from '../../shared/api';
import { fake } from './fake-browser';
import { SERVER } from './fake-server';

export const ALICE = { id: '6f1c2c8e-0000-4000-8000-000000000001', username: 'alice', role: 'user' as const };
export const ADMIN = {
  id: '6f1c2c8e-0000-4000-8000-000000000002',
  username: 'admin',
  role: 'admin' as const,
};

export function me(overrides: Partial<Me['backupCodes']> = {}, user: Me['user'] = ALICE): Me {
  return {
    user,
    mustChangePassword: false,
    mfa: { enabled: true, enrolled: true, type: 'totp' },
    backupCodes: {
      allowed: true,
      reason: null,
      total: 10,
      remaining: 7,
      used: [4, 1, 3],
      generatedAt: '2026-11-20T09:30:00.000Z',
      warn: false,
      ...overrides,
    },
  };
}

export const POLICY: Policy = {
  mfaUsage: 'optional_per_user',
  backupCodes: { enabled: false, count: 10, warnWhenRemaining: 3 },
};

export function adminUser(user: typeof ALICE | typeof ADMIN, overrides: Partial<AdminUser> = {}): AdminUser {
  return {
    ...user,
    createdAt: '2026-11-01T08:00:00.000Z',
    mustChangePassword: false,
    mfa: { type: 'totp', enrolled: true, configureLater: false },
    backupCodes: {
      total: 10,
      remaining: 7,
      generatedAt: '2026-11-20T09:30:00.000Z',
      lastUsedAt: '2026-11-25T18:05:00.000Z',
    },
    lockout: { lockedUntil: null, needsAdminUnlock: false, consecutiveFailures: 0 },
    ...overrides,
  };
}

export const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

export function codeUsedEvent(at: string, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `event-${at}`,
    at,
    type: 'backup_code_used',
    actor: { id: ALICE.id, username: ALICE.username },
    subject: { id: ALICE.id, username: ALICE.username },
    ip: '203.0.113.7',
    userAgent: FIREFOX_LINUX,
    details: { number: 3, remaining: 6 },
    ...overrides,
  };
}

/** A browser where the server is configured and permitted, optionally already signed in. */
export async function configuredBrowser({ token }: { token?: string } = {}): Promise<void> {
  await fake.storage.local.set({ serverUrl: SERVER });
  fake.permissions.granted.add('https://sparekey.example/*');
  if (token) await fake.storage.session.set({ sessionToken: token });
}
