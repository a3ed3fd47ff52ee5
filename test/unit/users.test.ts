/**
 * Account management through the service, on the real lowdb store with a fake clock: the last-admin
 * guard, what an MFA change voids, what the admin sees of a user, and the first admin of an empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../server/crypto/tokens';
import { startSession } from '../../server/services/sessions';
import {
  adminView,
  bootstrapAdmin,
  createUser,
  deleteUser,
  newUserRecord,
  setPolicy,
  unlockUser,
  updateUser,
} from '../../server/services/users';
import { OPEN_LOCKOUT } from '../../server/store/records';
import { StoreUnavailableError, type UserRecord } from '../../server/store/types';
import { buildTestApp, type TestApp } from '../support/fakes';
import { auditEvents, META, refusal } from '../support/services';

let t: TestApp;
let root: UserRecord;
let alice: UserRecord;

beforeEach(async () => {
  t = await buildTestApp();
  root = await newUserRecord(t.deps, 'root', 'root-password', 'admin');
  alice = await newUserRecord(t.deps, 'alice', 'alice-password', 'user');
  await t.deps.store.createUser(root);
  await t.deps.store.createUser(alice);
});
afterEach(async () => {
  await t.close();
});

const events = (type: string) => auditEvents(t.deps, type);
const reload = async (id: string) => t.deps.store.getUser(id);

describe('a new account', () => {
  it('has a hashed password, its creation time, no MFA, no codes and no failures', async () => {
    const user = await newUserRecord(t.deps, 'bob', 'bob-password', 'user');
    expect(user).toMatchObject({
      username: 'bob',
      role: 'user',
      createdAt: new Date(t.clock.now()).toISOString(),
      mfa: { type: 'none', secret: null, enrolled: false, configureLater: false, lastStep: null },
      backupCodes: null,
      passwordLockout: OPEN_LOCKOUT,
      mfaLockout: OPEN_LOCKOUT,
    });
    expect(await t.deps.hasher.verifyPassword(user.passwordHash, 'bob-password')).toBe(true);
    expect(user.passwordHash).not.toContain('bob-password');
    expect(user.id).not.toBe((await newUserRecord(t.deps, 'bob', 'bob-password', 'user')).id);
  });

  it('is created by an admin, audited with its role, and a taken name is refused at the field', async () => {
    const bob = await createUser(t.deps, META, root, {
      username: 'bob',
      password: 'bob-password',
      role: 'admin',
    });
    expect(bob).toEqual({ id: bob.id, username: 'bob', role: 'admin' });
    const [created] = await events('user_created');
    expect(created).toMatchObject({
      actor: { id: root.id },
      subject: { id: bob.id },
      details: { role: 'admin' },
    });

    const taken = await refusal(
      createUser(t.deps, META, root, { username: 'BOB', password: 'x-password', role: 'user' }),
    );
    expect(taken.status).toBe(409);
    expect(taken.code).toBe('username_taken');
    expect(taken.message).toBe('That username is already taken.');
    expect(taken.extras.field).toBe('username');
    const asName = await refusal(
      createUser(t.deps, META, root, { username: 'carol.ann', password: 'Carol.Ann', role: 'user' }),
    );
    expect([asName.code, asName.message, asName.extras.field]).toEqual([
      'weak_password',
      'Password must not be the username.',
      'password',
    ]);
    expect(await events('user_created')).toHaveLength(1);
  });

  it('with a temporary password must change it at first sign-in; without the flag need not', async () => {
    const carol = await createUser(t.deps, META, root, {
      username: 'carol',
      password: 'carol-password',
      role: 'user',
      temporary: true,
    });
    expect((await t.deps.store.getUser(carol.id))?.mustChangePassword).toBe(true);
    const dave = await createUser(t.deps, META, root, {
      username: 'dave',
      password: 'dave-password',
      role: 'user',
      temporary: false,
    });
    expect((await t.deps.store.getUser(dave.id))?.mustChangePassword).toBeFalsy();
    // The API's default is the old behaviour: the password stays.
    const erin = await createUser(t.deps, META, root, {
      username: 'erin',
      password: 'erin-password',
      role: 'user',
    });
    expect((await t.deps.store.getUser(erin.id))?.mustChangePassword).toBeFalsy();
    expect((await events('user_created')).map((event) => event.details?.temporary)).toEqual(
      expect.arrayContaining([true, false, false]),
    );
  });
});

describe('the last administrator', () => {
  it('cannot be demoted or deleted while alone', async () => {
    const demote = await refusal(updateUser(t.deps, META, root, root.id, { role: 'user' }));
    expect(demote.status).toBe(409);
    expect(demote.code).toBe('last_admin');
    expect(demote.message).toBe('This is the last administrator: make another user an administrator first.');
    expect((await reload(root.id))?.role).toBe('admin');

    const remove = await refusal(deleteUser(t.deps, META, root, root.id));
    expect(remove.code).toBe('last_admin');
    expect(await reload(root.id)).not.toBeNull();
    expect(await events('user_deleted')).toEqual([]);
  });

  it('can be demoted or deleted once another administrator exists', async () => {
    await updateUser(t.deps, META, root, alice.id, { role: 'admin' });
    const demoted = await updateUser(t.deps, META, alice, root.id, { role: 'user' });
    expect(demoted.user.role).toBe('user');
    const [updated] = await events('user_updated');
    expect(updated).toMatchObject({
      actor: { id: alice.id },
      subject: { id: root.id },
      details: { role: 'user' },
    });

    await updateUser(t.deps, META, alice, root.id, { role: 'admin' });
    await deleteUser(t.deps, META, alice, root.id);
    expect(await reload(root.id)).toBeNull();
    const [deleted] = await events('user_deleted');
    expect(deleted).toMatchObject({ actor: { id: alice.id }, subject: { id: root.id, username: 'root' } });
  });

  it('does not stop changes to other users: a user stays a user, and can be deleted', async () => {
    const same = await updateUser(t.deps, META, root, alice.id, { role: 'user' });
    expect(same.user.role).toBe('user');
    await deleteUser(t.deps, META, root, alice.id);
    expect(await reload(alice.id)).toBeNull();
  });

  it('an unknown user is not found, for a change and for a deletion', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    const change = await refusal(updateUser(t.deps, META, root, unknown, { role: 'user' }));
    expect([change.status, change.message]).toEqual([404, 'User not found.']);
    const deletion = await refusal(deleteUser(t.deps, META, root, unknown));
    expect([deletion.status, deletion.message]).toEqual([404, 'User not found.']);
    const unlock = await refusal(unlockUser(t.deps, META, root, unknown));
    expect(unlock.message).toBe('User not found.');
    expect((await refusal(updateUser(t.deps, META, root, unknown, { mfa: { type: 'none' } }))).status).toBe(
      404,
    );
    expect((await refusal(deleteUser(t.deps, META, root, unknown))).status).toBe(404);
  });
});

describe("changing a user's MFA", () => {
  async function withHistory() {
    await t.deps.store.updateUser(alice.id, (current) => ({
      user: {
        ...current,
        mfa: { type: 'totp', secret: 'JBSWY3DPEHPK3PXP', enrolled: true, configureLater: false, lastStep: 5 },
        mfaLockout: {
          failures: [new Date(t.clock.now()).toISOString()],
          lockedUntil: new Date(t.clock.now() + 60_000).toISOString(),
          locks: 1,
          consecutiveFailures: 6,
          needsAdminUnlock: false,
        },
        passwordLockout: { ...OPEN_LOCKOUT, failures: [new Date(t.clock.now()).toISOString()] },
        backupCodes: { id: 's', salt: 'c2FsdA==', generatedAt: 'x', codes: [] },
      },
      result: null,
    }));
    return startSession(t.deps, alice, 'totp');
  }

  it('a new authenticator: its secret is shown once, and the old codes, failures, lock and sessions die', async () => {
    const session = await withHistory();
    const changed = await updateUser(t.deps, META, root, alice.id, { mfa: { type: 'totp' } });
    const secret = changed.totp?.secret ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(secret).not.toBe('JBSWY3DPEHPK3PXP');
    expect(changed.totp?.otpauthUri).toContain('SpareKey:alice');
    expect(changed.user.mfa).toEqual({ type: 'totp', enrolled: true, configureLater: false });

    const stored = await reload(alice.id);
    expect(stored?.mfa).toEqual({
      type: 'totp',
      secret,
      enrolled: true,
      configureLater: false,
      lastStep: null,
    });
    expect(stored?.backupCodes).toBeNull();
    // A new authenticator starts the MFA lockout over; the password's own lockout is not the MFA's business.
    expect(stored?.mfaLockout).toEqual(OPEN_LOCKOUT);
    expect(stored?.passwordLockout.failures).toHaveLength(1);
    expect(await t.deps.store.getToken(hashToken(session))).toBeNull();
    const [configured] = await events('mfa_configured');
    expect(configured?.details).toEqual({ type: 'totp', configureLater: false });
  });

  it('configured later: no secret yet, the user enrols at the next sign-in', async () => {
    await withHistory();
    const changed = await updateUser(t.deps, META, root, alice.id, {
      mfa: { type: 'totp', configureLater: true },
    });
    expect(changed.totp).toBeUndefined();
    expect((await reload(alice.id))?.mfa).toEqual({
      type: 'totp',
      secret: null,
      enrolled: false,
      configureLater: true,
      lastStep: null,
    });
    const [configured] = await events('mfa_configured');
    expect(configured?.details).toEqual({ type: 'totp', configureLater: true });
  });

  it('a reset: no MFA, and it is audited as a reset', async () => {
    const session = await withHistory();
    const changed = await updateUser(t.deps, META, root, alice.id, { mfa: { type: 'none' } });
    expect(changed.totp).toBeUndefined();
    expect((await reload(alice.id))?.mfa).toEqual({
      type: 'none',
      secret: null,
      enrolled: false,
      configureLater: false,
      lastStep: null,
    });
    expect(await t.deps.store.getToken(hashToken(session))).toBeNull();
    const [reset] = await events('mfa_reset');
    expect(reset).toMatchObject({ actor: { id: root.id }, subject: { id: alice.id } });
    expect(await events('mfa_configured')).toEqual([]);
  });

  it('a role change alone keeps the MFA, the codes, the sessions, and audits no MFA event', async () => {
    const session = await withHistory();
    await updateUser(t.deps, META, root, alice.id, { role: 'admin' });
    const stored = await reload(alice.id);
    expect(stored?.mfa.secret).toBe('JBSWY3DPEHPK3PXP');
    expect(stored?.backupCodes).not.toBeNull();
    expect(stored?.mfaLockout.failures).toHaveLength(1);
    expect(stored?.mfaLockout.locks).toBe(1);
    expect(await t.deps.store.getToken(hashToken(session))).not.toBeNull();
    expect(await events('mfa_reset')).toEqual([]);
    expect(await events('mfa_configured')).toEqual([]);
  });

  it('an MFA change alone keeps the role and audits no role change', async () => {
    await updateUser(t.deps, META, root, alice.id, { mfa: { type: 'none' } });
    expect((await reload(alice.id))?.role).toBe('user');
    expect(await events('user_updated')).toEqual([]);
  });
});

describe("the admin's view of a user", () => {
  it('counts the codes and names the latest use, whatever the order they were used in', () => {
    const view = adminView(
      {
        ...alice,
        backupCodes: {
          id: 's',
          salt: '',
          generatedAt: '2026-01-01T00:00:00.000Z',
          codes: [
            { number: 1, digest: null, usedAt: '2026-01-03T00:00:00.000Z' },
            { number: 2, digest: null, usedAt: '2026-01-05T00:00:00.000Z' },
            { number: 3, digest: 'x', usedAt: null },
            { number: 4, digest: null, usedAt: '2026-01-04T00:00:00.000Z' },
          ],
        },
      },
      t.clock.now(),
    );
    expect(view).toEqual({
      id: alice.id,
      username: 'alice',
      role: 'user',
      createdAt: alice.createdAt,
      mustChangePassword: false,
      mfa: { type: 'none', enrolled: false, configureLater: false },
      backupCodes: {
        total: 4,
        remaining: 1,
        generatedAt: '2026-01-01T00:00:00.000Z',
        lastUsedAt: '2026-01-05T00:00:00.000Z',
      },
      lockout: { lockedUntil: null, needsAdminUnlock: false, consecutiveFailures: 0 },
    });
  });

  it('shows the later of two running locks, none once it ended, and who needs an administrator', () => {
    const now = t.clock.now();
    const at = (ms: number) => new Date(now + ms).toISOString();
    const locked = {
      ...alice,
      mustChangePassword: true,
      // The later lock first: the view must not depend on which step locked last.
      passwordLockout: { ...OPEN_LOCKOUT, lockedUntil: at(9_000), consecutiveFailures: 12 },
      mfaLockout: { ...OPEN_LOCKOUT, lockedUntil: at(5_000), consecutiveFailures: 7 },
    };
    expect(adminView(locked, now).mustChangePassword).toBe(true);
    expect(adminView(locked, now).lockout).toEqual({
      lockedUntil: at(9_000),
      needsAdminUnlock: false,
      consecutiveFailures: 12,
    });
    expect(adminView(locked, now + 6_000).lockout.lockedUntil).toBe(at(9_000));
    expect(adminView(locked, now + 9_000).lockout.lockedUntil).toBeNull();
    const waiting = {
      ...alice,
      mfaLockout: { ...OPEN_LOCKOUT, needsAdminUnlock: true, consecutiveFailures: 100 },
    };
    expect(adminView(waiting, now).lockout).toEqual({
      lockedUntil: null,
      needsAdminUnlock: true,
      consecutiveFailures: 100,
    });
    const password = { ...alice, passwordLockout: { ...OPEN_LOCKOUT, needsAdminUnlock: true } };
    expect(adminView(password, now).lockout.needsAdminUnlock).toBe(true);
  });

  it('an unlock opens both lockouts and audits what it ended', async () => {
    const now = t.clock.now();
    await t.deps.store.updateUser(alice.id, (current) => ({
      user: {
        ...current,
        passwordLockout: { ...OPEN_LOCKOUT, needsAdminUnlock: true, consecutiveFailures: 100 },
        mfaLockout: { ...OPEN_LOCKOUT, lockedUntil: new Date(now + 60_000).toISOString(), locks: 2 },
      },
      result: null,
    }));
    const view = await unlockUser(t.deps, META, root, alice.id);
    expect(view.lockout).toEqual({ lockedUntil: null, needsAdminUnlock: false, consecutiveFailures: 0 });
    const stored = await reload(alice.id);
    expect(stored?.passwordLockout).toEqual(OPEN_LOCKOUT);
    expect(stored?.mfaLockout).toEqual(OPEN_LOCKOUT);
    const [event] = await events('user_unlocked');
    expect(event).toMatchObject({
      actor: { id: root.id },
      subject: { id: alice.id },
      details: {
        lockedUntil: new Date(now + 60_000).toISOString(),
        needsAdminUnlock: true,
        consecutiveFailures: 100,
      },
    });
    expect(
      (await refusal(unlockUser(t.deps, META, root, '00000000-0000-4000-8000-000000000000'))).status,
    ).toBe(404);
  });

  it('without a set: nothing generated, nothing used', () => {
    expect(adminView(alice, t.clock.now()).backupCodes).toEqual({
      total: 0,
      remaining: 0,
      generatedAt: null,
      lastUsedAt: null,
    });
  });
});

describe('the policy', () => {
  it('is saved and audited with what changed from the previous mode', async () => {
    const policy = {
      mfaUsage: 'required' as const,
      backupCodes: { enabled: true, count: 8, warnWhenRemaining: 2 },
      adminsMustUseMfa: false,
    };
    const before = await t.deps.store.getPolicy();
    expect(await setPolicy(t.deps, META, root, policy)).toEqual(policy);
    expect(await t.deps.store.getPolicy()).toEqual(policy);
    const [changed] = await events('policy_changed');
    expect(changed).toMatchObject({
      actor: { id: root.id },
      details: {
        mfaUsage: 'required',
        backupCodesEnabled: true,
        count: 8,
        warnWhenRemaining: 2,
        adminsMustUseMfa: false,
        previousMfaUsage: before.mfaUsage,
      },
    });
  });

  it('saves "Administrators must use MFA" and audits it; a policy without it means off', async () => {
    const base = {
      mfaUsage: 'optional_per_user' as const,
      backupCodes: { enabled: true, count: 8, warnWhenRemaining: 2 },
    };
    expect(await setPolicy(t.deps, META, root, { ...base, adminsMustUseMfa: true })).toEqual({
      ...base,
      adminsMustUseMfa: true,
    });
    expect((await t.deps.store.getPolicy()).adminsMustUseMfa).toBe(true);
    expect(await setPolicy(t.deps, META, root, base)).toEqual({ ...base, adminsMustUseMfa: false });
    expect((await t.deps.store.getPolicy()).adminsMustUseMfa).toBe(false);
    const audited = (await events('policy_changed')).map((event) => event.details?.adminsMustUseMfa);
    expect(audited.sort()).toEqual([false, true]);
  });
});

describe('a store that fails', () => {
  const down = new StoreUnavailableError('connection lost');

  it('during a creation, a deletion or a role change: the failure is reported as it is, not as a refusal', async () => {
    t.deps.store.createUser = async () => {
      throw down;
    };
    t.deps.store.deleteUserKeepingAnAdmin = async () => {
      throw down;
    };
    t.deps.store.updateUserKeepingAnAdmin = async () => {
      throw down;
    };
    const input = { username: 'bob', password: 'bob-password', role: 'user' as const };
    await expect(createUser(t.deps, META, root, input)).rejects.toBe(down);
    await expect(deleteUser(t.deps, META, root, alice.id)).rejects.toBe(down);
    await expect(updateUser(t.deps, META, root, root.id, { role: 'user' })).rejects.toBe(down);
    expect(await events('user_created')).toEqual([]);
  });

  it('while reading the account to delete: the failure is reported, not taken for an unknown user', async () => {
    t.deps.store.getUser = async () => {
      throw down;
    };
    await expect(deleteUser(t.deps, META, root, alice.id)).rejects.toBe(down);
  });
});

describe('two admins deleting one account at once', () => {
  it('the later one is told the user is not found and audits nothing', async () => {
    const getUser = t.deps.store.getUser.bind(t.deps.store);
    t.deps.store.getUser = async (id) => {
      const found = await getUser(id);
      // The other admin's deletion lands between this one's read and its delete.
      await t.deps.store.deleteUser(id);
      return found;
    };
    const refused = await refusal(deleteUser(t.deps, META, root, alice.id));
    expect([refused.status, refused.message]).toEqual([404, 'User not found.']);
    expect(await events('user_deleted')).toEqual([]);
  });
});

describe('the first administrator', () => {
  it('an empty store gets `admin` with the given password, and nothing is shown', async () => {
    const empty = await buildTestApp();
    try {
      const result = await bootstrapAdmin(empty.deps, 'given-password');
      const admin = await empty.deps.store.findUserByUsername('admin');
      expect(result).toEqual({ created: true, generatedPassword: null, adminId: admin?.id });
      expect(admin?.role).toBe('admin');
      // The admin chose this password: no forced change.
      expect(admin?.mustChangePassword).toBeFalsy();
      expect(await empty.deps.hasher.verifyPassword(admin?.passwordHash ?? '', 'given-password')).toBe(true);
    } finally {
      await empty.close();
    }
  });

  it('without a password, a generated one of 20 characters (120 bits) that signs in and must be changed', async () => {
    const empty = await buildTestApp();
    try {
      const { created, generatedPassword } = await bootstrapAdmin(empty.deps, null);
      expect(created).toBe(true);
      expect(generatedPassword).toMatch(/^[A-Za-z0-9_-]{20}$/);
      const admin = await empty.deps.store.findUserByUsername('admin');
      expect(admin?.mustChangePassword).toBe(true);
      expect(await empty.deps.hasher.verifyPassword(admin?.passwordHash ?? '', generatedPassword ?? '')).toBe(
        true,
      );
    } finally {
      await empty.close();
    }
  });

  it('another instance creating `admin` first is no error: this one creates nothing and shows no password', async () => {
    const empty = await buildTestApp();
    try {
      const create = empty.deps.store.createUser.bind(empty.deps.store);
      let theirs: UserRecord | undefined;
      empty.deps.store.createUser = async (user) => {
        // The other instance counted no users either, and stored its admin a moment earlier.
        theirs = await newUserRecord(empty.deps, 'admin', 'their-password', 'admin');
        await create(theirs);
        return create(user);
      };
      expect(await bootstrapAdmin(empty.deps, null)).toEqual({
        created: false,
        generatedPassword: null,
        adminId: null,
      });
      expect((await empty.deps.store.findUserByUsername('admin'))?.id).toBe(theirs?.id);
    } finally {
      await empty.close();
    }
  });

  it('a store that fails while creating the first admin stops the start-up', async () => {
    const empty = await buildTestApp();
    try {
      const down = new StoreUnavailableError('connection lost');
      empty.deps.store.createUser = async () => {
        throw down;
      };
      await expect(bootstrapAdmin(empty.deps, null)).rejects.toBe(down);
    } finally {
      await empty.close();
    }
  });

  it('a store with users gets no new account', async () => {
    expect(await bootstrapAdmin(t.deps, 'given-password')).toEqual({
      created: false,
      generatedPassword: null,
      adminId: null,
    });
    expect(await t.deps.store.findUserByUsername('admin')).toBeNull();
    expect(await t.deps.store.countUsers()).toBe(2);
  });
});
