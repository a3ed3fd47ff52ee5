/**
 * Generating, matching and revoking backup codes through the service, on the real lowdb store with a
 * fake clock and the fast hasher: what the user gets, what is stored, and what a wrong step costs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findCode, generateBackupCodes, revokeBackupCodes } from '../../server/services/backup-codes';
import { newUserRecord } from '../../server/services/users';
import type { BackupCodeSet, UserRecord } from '../../server/store/types';
import { normalizeCode } from '../../shared/codes';
import { buildTestApp, type TestApp } from '../support/fakes';
import { IP, META, refusal } from '../support/services';

let t: TestApp;
let alice: UserRecord;
let admin: UserRecord;

beforeEach(async () => {
  t = await buildTestApp({ ipFailureLimit: 3 });
  await t.deps.store.setPolicy({
    mfaUsage: 'required',
    backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 },
  });
  alice = {
    ...(await newUserRecord(t.deps, 'alice', 'alice-password', 'user')),
    mfa: { type: 'totp', secret: 'JBSWY3DPEHPK3PXP', enrolled: true, configureLater: false, lastStep: null },
  };
  admin = await newUserRecord(t.deps, 'root', 'root-password', 'admin');
  await t.deps.store.createUser(alice);
  await t.deps.store.createUser(admin);
});
afterEach(async () => {
  await t.close();
});

const stored = async () => (await t.deps.store.getUser(alice.id))?.backupCodes ?? null;
const digestOf = async (code: string, set: BackupCodeSet) =>
  t.deps.hasher.codeDigest(normalizeCode(code) ?? '', Buffer.from(set.salt, 'base64'));

describe('generating a set', () => {
  it('gives `count` formatted codes numbered from 1, stored only as digests under one salt', async () => {
    const generated = await generateBackupCodes(t.deps, META, alice, 'alice-password');
    expect(generated.generatedAt).toBe(new Date(t.clock.now()).toISOString());
    expect(generated.codes.map((c) => c.number)).toEqual([1, 2, 3, 4]);
    for (const { code } of generated.codes)
      expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);

    const set = await stored();
    if (!set) throw new Error('a stored set expected');
    expect(Buffer.from(set.salt, 'base64')).toHaveLength(16);
    expect(set.generatedAt).toBe(generated.generatedAt);
    expect(set.codes.map((c) => [c.number, c.usedAt])).toEqual([
      [1, null],
      [2, null],
      [3, null],
      [4, null],
    ]);
    for (const [i, { code }] of generated.codes.entries()) {
      expect(set.codes[i]?.digest).toBe((await digestOf(code, set)).toString('base64'));
      expect(JSON.stringify(set)).not.toContain(normalizeCode(code));
    }

    const [event] = await t.deps.store.listAudit({ limit: 1 });
    expect(event).toMatchObject({
      type: 'backup_codes_generated',
      actor: { id: alice.id },
      subject: { id: alice.id },
      details: { count: 4 },
      ip: IP,
    });
  });

  it('a new set has a new salt and id, and none of the old codes', async () => {
    const first = await generateBackupCodes(t.deps, META, alice, 'alice-password');
    const firstSet = await stored();
    const second = await generateBackupCodes(t.deps, META, alice, 'alice-password');
    const secondSet = await stored();
    expect(secondSet?.id).not.toBe(firstSet?.id);
    expect(secondSet?.salt).not.toBe(firstSet?.salt);
    expect(second.codes.map((c) => c.code)).not.toEqual(first.codes.map((c) => c.code));
  });

  it('a wrong password is refused, changes nothing, and counts against the address', async () => {
    await generateBackupCodes(t.deps, META, alice, 'alice-password');
    const before = await stored();
    const error = await refusal(generateBackupCodes(t.deps, META, alice, 'wrong-password'));
    expect(error.status).toBe(401);
    expect(error.code).toBe('invalid_credentials');
    expect(await stored()).toEqual(before);
    expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(1);
  });

  it('an address at its failure limit is refused before the password is checked', async () => {
    for (let i = 0; i < 3; i++) await refusal(generateBackupCodes(t.deps, META, alice, 'wrong-password'));
    const error = await refusal(generateBackupCodes(t.deps, META, alice, 'alice-password'));
    expect(error.status).toBe(429);
    expect(await stored()).toBeNull();
  });

  it('a right password gives the address its slot back: successes never fill its window', async () => {
    for (let i = 0; i < 5; i++) await generateBackupCodes(t.deps, META, alice, 'alice-password');
    expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(0);
  });

  it('is refused with the reason when the policy does not allow it', async () => {
    await t.deps.store.setPolicy({
      mfaUsage: 'required',
      backupCodes: { enabled: false, count: 4, warnWhenRemaining: 1 },
    });
    const error = await refusal(generateBackupCodes(t.deps, META, alice, 'alice-password'));
    expect(error.status).toBe(403);
    expect(error.code).toBe('backup_codes_disabled');
    expect(error.message).toBe('Your administrator has not enabled backup codes.');
    expect(await stored()).toBeNull();
  });

  it('for a user deleted meanwhile is refused as not found and leaves no audit event', async () => {
    await t.deps.store.deleteUser(alice.id);
    const error = await refusal(generateBackupCodes(t.deps, META, alice, 'alice-password'));
    expect([error.status, error.message]).toEqual([404, 'User not found.']);
    expect(await t.deps.store.listAudit({ limit: 10, type: 'backup_codes_generated' })).toEqual([]);
  });
});

describe('matching an attempt', () => {
  it('finds the code with that digest, spent or not, and nothing for a wrong one or a code spent with its digest erased', async () => {
    const { codes } = await generateBackupCodes(t.deps, META, alice, 'alice-password');
    const set = await stored();
    if (!set) throw new Error('a stored set expected');
    for (const [i, { code }] of codes.entries()) expect(findCode(set, await digestOf(code, set))).toBe(i);

    // A spent code keeps its digest, so a second use is told apart from a wrong code (code_already_used).
    const third = await digestOf(codes[2]?.code ?? '', set);
    const spent: BackupCodeSet = {
      ...set,
      codes: set.codes.map((c, i) => (i === 2 ? { ...c, usedAt: 'x' } : c)),
    };
    expect(findCode(spent, third)).toBe(2);
    // A code spent before that change has no digest left and matches nothing.
    const legacy: BackupCodeSet = {
      ...set,
      codes: set.codes.map((c, i) => (i === 2 ? { ...c, digest: null, usedAt: 'x' } : c)),
    };
    expect(findCode(legacy, third)).toBe(-1);
    expect(findCode(set, await digestOf('AAAAA-AAAAA', set))).toBe(-1);
  });

  it('a digest of another length matches nothing and does not throw', async () => {
    await generateBackupCodes(t.deps, META, alice, 'alice-password');
    const set = await stored();
    if (!set) throw new Error('a stored set expected');
    const first = Buffer.from(set.codes[0]?.digest ?? '', 'base64');
    expect(findCode(set, first.subarray(0, 16))).toBe(-1);
    expect(findCode(set, Buffer.concat([first, Buffer.alloc(1)]))).toBe(-1);
  });

  it('when two codes share a digest, the first one is the match', () => {
    const digest = Buffer.alloc(32, 7).toString('base64');
    const set: BackupCodeSet = {
      id: 's',
      salt: '',
      generatedAt: '',
      codes: [1, 2, 3].map((number) => ({ number, digest: number === 1 ? null : digest, usedAt: null })),
    };
    expect(findCode(set, Buffer.alloc(32, 7))).toBe(1);
  });
});

describe('revoking a set', () => {
  it('removes every code of the user and records who revoked it', async () => {
    await generateBackupCodes(t.deps, META, alice, 'alice-password');
    await revokeBackupCodes(t.deps, META, admin, alice.id);
    expect(await stored()).toBeNull();
    const [event] = await t.deps.store.listAudit({ limit: 1 });
    expect(event).toMatchObject({
      type: 'backup_codes_revoked',
      actor: { id: admin.id },
      subject: { id: alice.id, username: 'alice' },
    });
  });

  it('of an unknown user is refused as not found', async () => {
    const error = await refusal(
      revokeBackupCodes(t.deps, META, admin, '00000000-0000-4000-8000-000000000000'),
    );
    expect(error.status).toBe(404);
    expect(error.message).toBe('User not found.');
  });
});
