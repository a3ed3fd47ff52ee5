/** Shared set-up for the store suites: real files in a fresh temp directory per test. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { LowdbStore, type LowdbStoreOptions } from '../../server/store/lowdb';
import { OPEN_LOCKOUT } from '../../server/store/records';
import type { ApplicationRecord, NewAuditEvent, TokenRecord, UserRecord } from '../../server/store/types';

const dirs: string[] = [];
const stores: LowdbStore[] = [];

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sparekey-store-'));
  dirs.push(dir);
  return dir;
}

/** An open store on `dir` (a new temp dir by default), closed after the test. */
export async function openStore(dir?: string, options?: LowdbStoreOptions): Promise<LowdbStore> {
  const store = new LowdbStore(dir ?? (await tempDir()), options);
  await store.open();
  stores.push(store);
  return store;
}

export function makeUser(username: string, overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    id: randomUUID(),
    username,
    role: 'user',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    createdAt: '2026-11-27T10:00:00.000Z',
    mfa: { type: 'none', secret: null, enrolled: false, configureLater: false, lastStep: null },
    backupCodes: null,
    passwordLockout: OPEN_LOCKOUT,
    mfaLockout: OPEN_LOCKOUT,
    ...overrides,
  };
}

export function makeToken(userId: string, overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    hash: randomUUID().replaceAll('-', ''),
    kind: 'session',
    userId,
    createdAt: '2026-11-27T10:00:00.000Z',
    lastSeenAt: '2026-11-27T10:00:00.000Z',
    expiresAt: '2026-11-27T22:00:00.000Z',
    ...overrides,
  };
}

export function makeEvent(overrides: Partial<NewAuditEvent> = {}): NewAuditEvent {
  return {
    at: '2026-11-27T10:00:00.000Z',
    type: 'login_succeeded',
    actor: null,
    subject: null,
    ip: '203.0.113.7',
    userAgent: 'vitest',
    ...overrides,
  };
}

export function makeApplication(overrides: Partial<ApplicationRecord> = {}): ApplicationRecord {
  return {
    id: randomUUID(),
    clientId: `client-${randomUUID()}`,
    name: 'Grafana',
    type: 'confidential',
    redirectUris: ['https://grafana.example/login/generic_oauth'],
    postLogoutRedirectUris: [],
    secretHash: 'a'.repeat(64),
    createdAt: '2026-11-27T10:00:00.000Z',
    updatedAt: '2026-11-27T10:00:00.000Z',
    ...overrides,
  };
}
