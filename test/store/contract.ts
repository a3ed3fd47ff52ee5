/**
 * The Store contract: what every adapter guarantees through the Store interface, run unchanged
 * against each (lowdb in ./lowdb.test.ts, PostgreSQL in test/postgres/store.test.ts). What only one
 * adapter has (files, journals, connection pools) is tested beside it, not here.
 */
import { describe, expect, it } from 'vitest';
import { OPEN_LOCKOUT } from '../../server/store/records';
import {
  type AuditQuery,
  InvalidCursorError,
  LastAdminError,
  type Store,
  UsernameTakenError,
  type UserRecord,
} from '../../server/store/types';
import { type AuditEvent, DEFAULT_POLICY, type Policy } from '../../shared/api';
import { makeEvent, makeToken, makeUser } from './store-fixtures';

/**
 * Tries to alter a record the store handed out. A store may hand out its own record frozen (lowdb:
 * the attempt throws a TypeError) or a copy (PostgreSQL: the attempt succeeds on the copy alone);
 * either way the store must not change, which the caller then checks.
 */
function tryToAlter(alter: () => unknown): void {
  try {
    alter();
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
}

export interface StoreHarness {
  /** A new, empty, open store, closed after the test. */
  open(): Promise<Store>;
  /** Closes `store` and opens a new instance on the same data. */
  reopen(store: Store): Promise<Store>;
  /** A store on new data that has not been opened. */
  unopened(): Promise<Store>;
}

/** A window that holds every attempt: with an unbounded limit the reservation records unconditionally. */
const EVER = '1970-01-01T00:00:00.000Z';

const CUSTOM_POLICY: Policy = {
  mfaUsage: 'required',
  backupCodes: { enabled: true, count: 12, warnWhenRemaining: 2 },
  adminsMustUseMfa: true,
};

export function storeContract(name: string, harness: StoreHarness): void {
  const { open: openStore, reopen } = harness;

  describe(`${name}: the Store contract`, () => {
    describe('policy', () => {
      it('starts from the default policy and keeps a saved one across a reopen', async () => {
        const store = await openStore();
        expect(await store.getPolicy()).toEqual(DEFAULT_POLICY);

        await store.setPolicy(CUSTOM_POLICY);
        expect(await store.getPolicy()).toEqual(CUSTOM_POLICY);

        const again = await reopen(store);
        expect(await again.getPolicy()).toEqual(CUSTOM_POLICY);
      });

      it('reads "Administrators must use MFA" as off for a policy saved without it', async () => {
        const store = await openStore();
        const { adminsMustUseMfa: _, ...older } = CUSTOM_POLICY;
        await store.setPolicy(older);
        expect(await store.getPolicy()).toEqual({ ...CUSTOM_POLICY, adminsMustUseMfa: false });
        expect(await (await reopen(store)).getPolicy()).toEqual({
          ...CUSTOM_POLICY,
          adminsMustUseMfa: false,
        });
      });

      it('refuses an invalid policy and keeps the saved one', async () => {
        const store = await openStore();
        await store.setPolicy(CUSTOM_POLICY);
        const invalid = { ...CUSTOM_POLICY, backupCodes: { ...CUSTOM_POLICY.backupCodes, count: 99 } };
        await expect(store.setPolicy(invalid)).rejects.toThrow();
        expect(await store.getPolicy()).toEqual(CUSTOM_POLICY);
      });

      it('hands out a policy that cannot change the store: frozen, or a copy', async () => {
        const store = await openStore();
        const policy = await store.getPolicy();
        tryToAlter(() => {
          policy.backupCodes.enabled = true;
        });
        expect((await store.getPolicy()).backupCodes.enabled).toBe(false);
      });
    });

    describe('users', () => {
      it('round-trips a user through create, get, find, list and count', async () => {
        const store = await openStore();
        const alice = makeUser('Alice', { role: 'admin' });
        const bob = makeUser('bob', {
          mfa: {
            type: 'totp',
            secret: 'JBSWY3DPEHPK3PXP',
            enrolled: true,
            configureLater: false,
            lastStep: 7,
          },
          backupCodes: {
            id: 'set-bob',
            salt: 'c2FsdA==',
            generatedAt: '2026-11-27T10:00:00.000Z',
            codes: [
              // Spent before digests were kept, spent since (the digest stays), unspent.
              { number: 1, digest: null, usedAt: '2026-11-27T10:05:00.123Z' },
              { number: 2, digest: 'c3BlbnQ=', usedAt: '2026-11-27T10:06:00.000Z' },
              { number: 3, digest: 'ZGlnZXN0', usedAt: null },
            ],
          },
          mustChangePassword: true,
          passwordLockout: {
            failures: ['2026-11-27T10:00:30.000Z', '2026-11-27T10:00:40.500Z'],
            lockedUntil: '2026-11-27T10:30:00.000Z',
            locks: 2,
            consecutiveFailures: 12,
            needsAdminUnlock: false,
          },
          mfaLockout: {
            failures: ['2026-11-27T10:01:00.000Z'],
            lockedUntil: '2026-11-27T10:16:00.000Z',
            locks: 1,
            consecutiveFailures: 100,
            needsAdminUnlock: true,
          },
        });
        const carol = makeUser('carol', { mustChangePassword: false });
        await store.createUser(alice);
        await store.createUser(bob);
        await store.createUser(carol);

        // toStrictEqual: a field absent stays absent, a false stays false.
        expect(await store.getUser(alice.id)).toStrictEqual(alice);
        expect(await store.getUser(bob.id)).toStrictEqual(bob);
        expect(await store.getUser(carol.id)).toStrictEqual(carol);
        expect(await store.findUserByUsername('Alice')).toEqual(alice);
        expect(await store.countUsers()).toBe(3);
        expect(await store.listUsers()).toEqual([alice, bob, carol]);
        expect(await (await reopen(store)).getUser(bob.id)).toStrictEqual(bob);
      });

      it('treats usernames case-insensitively for lookups and clashes', async () => {
        const store = await openStore();
        const alice = makeUser('Alice');
        await store.createUser(alice);

        expect((await store.findUserByUsername('ALICE'))?.id).toBe(alice.id);
        expect((await store.findUserByUsername('alice'))?.username).toBe('Alice');
        await expect(store.createUser(makeUser('aLiCe'))).rejects.toBeInstanceOf(UsernameTakenError);
        expect(await store.countUsers()).toBe(1);
      });

      it('lets exactly one of two racing creates of the same name win', async () => {
        const store = await openStore();
        const results = await Promise.allSettled([
          store.createUser(makeUser('Carol')),
          store.createUser(makeUser('carol')),
          store.createUser(makeUser('CAROL')),
        ]);
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(UsernameTakenError);
        }
        expect(await store.countUsers()).toBe(1);
      });

      it('answers null for unknown ids and names, including ids that look like paths', async () => {
        const store = await openStore();
        await store.createUser(makeUser('alice'));
        expect(await store.getUser('no-such-id')).toBeNull();
        expect(await store.getUser('../policy')).toBeNull();
        expect(await store.getUser('..%2Findex')).toBeNull();
        expect(await store.findUserByUsername('nobody')).toBeNull();
        expect(await store.updateUser('../index', (user) => ({ user, result: 1 }))).toBeNull();
        expect(await store.deleteUser('../index')).toBe(false);
      });

      it('hands out records that cannot change the store: frozen, or copies', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);
        alice.role = 'admin';
        const read = await store.getUser(alice.id);
        if (!read) throw new Error('alice is missing');
        tryToAlter(() => read.mfaLockout.failures.push('2026-11-27T10:00:00.000Z'));
        tryToAlter(() => {
          read.role = 'admin';
        });
        expect(await store.getUser(alice.id)).toMatchObject({ role: 'user', mfaLockout: { failures: [] } });
      });
    });

    describe('updateUser', () => {
      it('commits the audit events of a change with it, and none of a change that throws', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);
        const failed = makeEvent({
          type: 'backup_code_failed',
          subject: { id: alice.id, username: 'alice' },
        });
        const locked = makeEvent({ type: 'mfa_locked', subject: { id: alice.id, username: 'alice' } });
        const result = await store.updateUser(alice.id, (user) => ({
          user: { ...user, mfaLockout: { ...user.mfaLockout, locks: 1 } },
          result: 'locked',
          audit: [failed, locked],
        }));
        expect(result).toBe('locked');
        // A change that writes no record may still record what happened.
        const refused = makeEvent({ type: 'mfa_failed', subject: { id: alice.id, username: 'alice' } });
        await store.updateUser(alice.id, () => ({ user: null, result: null, audit: [refused] }));
        await expect(
          store.updateUser(alice.id, () => {
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');

        const again = await reopen(store);
        expect((await again.getUser(alice.id))?.mfaLockout.locks).toBe(1);
        const events = await again.listAudit({ limit: 10 });
        expect(events.map(({ id: _id, ...event }) => event)).toEqual([refused, locked, failed]);
        expect(new Set(events.map((event) => event.id)).size).toBe(3);
      });

      it('writes the changed record and resolves with the result of the change', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);

        const result = await store.updateUser(alice.id, (user) => ({
          user: {
            ...user,
            mfaLockout: { ...user.mfaLockout, lockedUntil: '2026-11-27T11:00:00.000Z', locks: 1 },
            passwordLockout: { ...user.passwordLockout, consecutiveFailures: 3 },
            mustChangePassword: false,
          },
          result: 'locked',
        }));
        expect(result).toBe('locked');
        const expected = {
          ...alice,
          mfaLockout: { ...alice.mfaLockout, lockedUntil: '2026-11-27T11:00:00.000Z', locks: 1 },
          passwordLockout: { ...alice.passwordLockout, consecutiveFailures: 3 },
          mustChangePassword: false,
        };
        expect(await store.getUser(alice.id)).toStrictEqual(expected);

        const again = await reopen(store);
        expect(await again.getUser(alice.id)).toStrictEqual(expected);
      });

      it('writes nothing when the change returns null, and never calls it for an unknown user', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);

        expect(
          await store.updateUser(alice.id, (user) => {
            tryToAlter(() => {
              user.role = 'admin';
            });
            return { user: null, result: 'nothing' };
          }),
        ).toBe('nothing');
        expect(await store.getUser(alice.id)).toEqual(alice);

        let called = false;
        const result = await store.updateUser('missing', (user) => {
          called = true;
          return { user, result: 1 };
        });
        expect(result).toBeNull();
        expect(called).toBe(false);
      });

      it('leaves the record unchanged when the change throws, and later updates still run', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);

        await expect(
          store.updateUser(alice.id, (user) => {
            tryToAlter(() => user.mfaLockout.failures.push('2026-11-27T10:00:00.000Z'));
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect((await store.getUser(alice.id))?.mfaLockout.failures).toEqual([]);

        const failure = '2026-11-27T10:02:00.000Z';
        await store.updateUser(alice.id, (user) => ({
          user: { ...user, mfaLockout: { ...user.mfaLockout, failures: [failure] } },
          result: null,
        }));
        expect((await store.getUser(alice.id))?.mfaLockout.failures).toEqual([failure]);
      });

      it('runs 50 concurrent updates of one user one at a time: the counter reaches exactly 50', async () => {
        const store = await openStore();
        const alice = makeUser('alice', {
          mfa: {
            type: 'totp',
            secret: 'JBSWY3DPEHPK3PXP',
            enrolled: true,
            configureLater: false,
            lastStep: 0,
          },
        });
        await store.createUser(alice);

        const seen = await Promise.all(
          Array.from({ length: 50 }, () =>
            store.updateUser(alice.id, (user) => {
              const step = (user.mfa.lastStep ?? 0) + 1;
              return { user: { ...user, mfa: { ...user.mfa, lastStep: step } }, result: step };
            }),
          ),
        );
        // Each call saw the previous one's write: 1..50, each exactly once.
        expect([...seen].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        expect((await store.getUser(alice.id))?.mfa.lastStep).toBe(50);

        const again = await reopen(store);
        expect((await again.getUser(alice.id))?.mfa.lastStep).toBe(50);
      });

      it('spends a code exactly once when 50 calls race to spend it', async () => {
        const store = await openStore();
        const alice = makeUser('alice', {
          backupCodes: {
            id: 'set-1',
            salt: 'c2FsdA==',
            generatedAt: '2026-11-27T10:00:00.000Z',
            codes: [
              { number: 1, digest: 'ZGlnZXN0', usedAt: null },
              { number: 2, digest: 'b3RoZXI=', usedAt: null },
            ],
          },
        });
        await store.createUser(alice);

        const spent = await Promise.all(
          Array.from({ length: 50 }, () =>
            store.updateUser(alice.id, (user) => {
              const set = user.backupCodes;
              const code = set?.codes[0];
              if (!set || !code || code.usedAt !== null) return { user: null, result: false };
              // A spent code keeps its digest, so a second submission is recognised.
              const codes = set.codes.map((c, i) =>
                i === 0 ? { ...c, usedAt: '2026-11-27T10:05:00.000Z' } : c,
              );
              return { user: { ...user, backupCodes: { ...set, codes } }, result: true };
            }),
          ),
        );
        expect(spent.filter(Boolean)).toHaveLength(1);
        expect((await store.getUser(alice.id))?.backupCodes?.codes).toEqual([
          { number: 1, digest: 'ZGlnZXN0', usedAt: '2026-11-27T10:05:00.000Z' },
          { number: 2, digest: 'b3RoZXI=', usedAt: null },
        ]);
      });

      it('replaces a whole set at once, and removes it', async () => {
        const store = await openStore();
        const oldSet = {
          id: 'set-old',
          salt: 'c2FsdA==',
          generatedAt: '2026-11-27T10:00:00.000Z',
          codes: [{ number: 1, digest: 'b2xk', usedAt: null }],
        };
        const newSet = {
          id: 'set-new',
          salt: 'bmV3',
          generatedAt: '2026-11-27T11:00:00.000Z',
          codes: [1, 2, 3].map((number) => ({ number, digest: `bmV3${number}`, usedAt: null })),
        };
        const alice = makeUser('alice', { backupCodes: oldSet });
        await store.createUser(alice);
        await store.updateUser(alice.id, (user) => ({
          user: { ...user, backupCodes: newSet },
          result: null,
        }));
        expect((await store.getUser(alice.id))?.backupCodes).toEqual(newSet);
        await store.updateUser(alice.id, (user) => ({ user: { ...user, backupCodes: null }, result: null }));
        expect(await (await reopen(store)).getUser(alice.id)).toEqual({ ...alice, backupCodes: null });
      });

      it('lists the new role after a role change and a reopen', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);
        await store.updateUser(alice.id, (user) => ({ user: { ...user, role: 'admin' }, result: null }));

        const again = await reopen(store);
        expect((await again.findUserByUsername('ALICE'))?.role).toBe('admin');
      });

      it('lists the admins, following role changes, deletions and a reopen', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        const bob = makeUser('bob', { role: 'admin' });
        await store.createUser(alice);
        await store.createUser(bob);
        expect(await store.listAdminIds()).toEqual([bob.id]);
        await store.updateUser(alice.id, (user) => ({ user: { ...user, role: 'admin' }, result: null }));
        expect((await store.listAdminIds()).sort()).toEqual([alice.id, bob.id].sort());
        await store.deleteUser(bob.id);
        expect(await store.listAdminIds()).toEqual([alice.id]);
        expect(await (await reopen(store)).listAdminIds()).toEqual([alice.id]);
      });

      it('lets exactly one of a rename and a create racing for the same new name win', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);
        const renaming = store.updateUser(alice.id, (user) => ({
          user: { ...user, username: 'dave' },
          result: null,
        }));
        // Let the rename reach its write before the create checks the name.
        await new Promise((resolve) => setImmediate(resolve));
        const results = await Promise.allSettled([renaming, store.createUser(makeUser('DAVE'))]);
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        expect(await store.countUsers()).toBe(results[1]?.status === 'fulfilled' ? 2 : 1);
        expect(await store.findUserByUsername('Dave')).not.toBeNull();
      });

      it('refuses to rename a user onto a name another user holds', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);
        await store.createUser(makeUser('bob'));
        await expect(
          store.updateUser(alice.id, (user) => ({ user: { ...user, username: 'BOB' }, result: null })),
        ).rejects.toBeInstanceOf(UsernameTakenError);
        expect((await store.getUser(alice.id))?.username).toBe('alice');
      });
    });

    describe('keeping an administrator', () => {
      it('keeps an admin: of two admins demoting or deleting each other at once, exactly one succeeds', async () => {
        const store = await openStore();
        const demote = (user: UserRecord) => ({ user: { ...user, role: 'user' as const }, result: true });
        for (let round = 0; round < 10; round++) {
          const a = makeUser(`a${round}`, { role: 'admin' });
          const b = makeUser(`b${round}`, { role: 'admin' });
          await store.createUser(a);
          await store.createUser(b);
          const outcomes = await Promise.allSettled(
            round % 2 === 0
              ? [store.updateUserKeepingAnAdmin(a.id, demote), store.updateUserKeepingAnAdmin(b.id, demote)]
              : [store.deleteUserKeepingAnAdmin(a.id), store.deleteUserKeepingAnAdmin(b.id)],
          );
          expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
          const refused = outcomes.find((o) => o.status === 'rejected');
          expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(LastAdminError);
          expect(await store.listAdminIds()).toHaveLength(1);
          // The survivor stays; the next round adds two more, so remove it first without the guard.
          const [survivor] = await store.listAdminIds();
          await store.updateUser(survivor as string, demote);
        }
        // A change that keeps an admin, or touches a non-admin, passes; the refused change wrote nothing.
        const admin = makeUser('keeper', { role: 'admin' });
        await store.createUser(admin);
        expect(await store.updateUserKeepingAnAdmin(admin.id, (user) => ({ user, result: 'kept' }))).toBe(
          'kept',
        );
        await expect(store.updateUserKeepingAnAdmin(admin.id, demote)).rejects.toBeInstanceOf(LastAdminError);
        await expect(store.deleteUserKeepingAnAdmin(admin.id)).rejects.toBeInstanceOf(LastAdminError);
        expect(await store.getUser(admin.id)).toEqual(admin);
        const plain = makeUser('plain');
        await store.createUser(plain);
        expect(await store.deleteUserKeepingAnAdmin(plain.id)).toBe(true);
        expect(await store.deleteUserKeepingAnAdmin(plain.id)).toBe(false);
        expect(await store.updateUserKeepingAnAdmin(plain.id, demote)).toBeNull();
      });
    });

    describe('deleteUser', () => {
      it('removes the user and the user’s tokens, and frees the name', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        const bob = makeUser('bob');
        await store.createUser(alice);
        await store.createUser(bob);
        const aliceToken = makeToken(alice.id);
        const bobToken = makeToken(bob.id);
        await store.putToken(aliceToken);
        await store.putToken(bobToken);

        expect(await store.deleteUser(alice.id)).toBe(true);
        expect(await store.getUser(alice.id)).toBeNull();
        expect(await store.findUserByUsername('alice')).toBeNull();
        expect(await store.getToken(aliceToken.hash)).toBeNull();
        expect(await store.getToken(bobToken.hash)).toEqual(bobToken);
        expect(await store.listUsers()).toEqual([bob]);
        expect(await store.deleteUser(alice.id)).toBe(false);

        await store.createUser(makeUser('Alice'));
        const again = await reopen(store);
        expect(await again.countUsers()).toBe(2);
        expect(await again.getUser(alice.id)).toBeNull();
        expect((await again.findUserByUsername('alice'))?.id).not.toBe(alice.id);
      });

      it('lets an update queued behind a delete find no user instead of bringing it back', async () => {
        const store = await openStore();
        const alice = makeUser('alice');
        await store.createUser(alice);
        const [deleted, updated] = await Promise.all([
          store.deleteUser(alice.id),
          store.updateUser(alice.id, (user) => ({ user, result: 'written' })),
        ]);
        expect(deleted).toBe(true);
        // Either the update ran first (and the delete removed its write) or it found no user.
        expect(updated === null || updated === 'written').toBe(true);
        expect(await store.getUser(alice.id)).toBeNull();
      });
    });

    describe('tokens', () => {
      it('round-trips put, get, take and delete', async () => {
        const store = await openStore();
        const session = makeToken('user-1');
        const challenge = makeToken('user-1', {
          kind: 'mfa',
          pendingSecret: 'JBSWY3DPEHPK3PXP',
          mfaFingerprint: 'f1ngerpr1nt',
        });
        const secondFactor = makeToken('user-1', { mfaPassed: 'backup_code' });
        await store.putToken(secondFactor);
        expect(await store.getToken(secondFactor.hash)).toStrictEqual(secondFactor);
        await store.putToken(session);
        await store.putToken(challenge);

        expect(await store.getToken(session.hash)).toStrictEqual(session);
        expect(await store.takeToken(challenge.hash)).toStrictEqual(challenge);
        expect(await store.takeToken(challenge.hash)).toBeNull();
        expect(await store.getToken(challenge.hash)).toBeNull();

        const touched = { ...session, lastSeenAt: '2026-11-27T10:30:00.000Z' };
        await store.putToken(touched);
        expect(await store.getToken(session.hash)).toEqual(touched);

        await store.deleteToken(session.hash);
        expect(await store.getToken(session.hash)).toBeNull();
        await expect(store.deleteToken(session.hash)).resolves.toBeUndefined();
        expect(await store.getToken('never-issued')).toBeNull();
      });

      it('gives a token to exactly one of 20 concurrent takers', async () => {
        const store = await openStore();
        const challenge = makeToken('user-1', { kind: 'mfa' });
        await store.putToken(challenge);
        const taken = await Promise.all(Array.from({ length: 20 }, () => store.takeToken(challenge.hash)));
        expect(taken.filter((token) => token !== null)).toEqual([challenge]);
      });

      it('keeps a token dead after logout even if a request that read it earlier writes it back', async () => {
        const store = await openStore();
        const session = makeToken('user-1');
        await store.putToken(session);
        const read = await store.getToken(session.hash);
        await store.deleteToken(session.hash);
        // The earlier request now refreshes lastSeenAt, as a session touch does.
        await store.putToken({ ...(read ?? session), lastSeenAt: '2026-11-27T10:31:00.000Z' });
        expect(await store.getToken(session.hash)).toBeNull();
      });

      it('keeps a token whose hash holds any characters', async () => {
        const store = await openStore();
        const token = makeToken('user-1', { hash: '../../users/x+y/z==' });
        await store.putToken(token);
        expect(await store.getToken(token.hash)).toEqual(token);
      });

      it('deletes only the given user’s tokens', async () => {
        const store = await openStore();
        const mine = [makeToken('user-1'), makeToken('user-1', { kind: 'mfa' })];
        const theirs = makeToken('user-2');
        for (const token of [...mine, theirs]) await store.putToken(token);
        await store.deleteTokensOfUser('user-1');
        for (const token of mine) expect(await store.getToken(token.hash)).toBeNull();
        expect(await store.getToken(theirs.hash)).toEqual(theirs);
      });

      it('deletes only the tokens of one kind when asked', async () => {
        const store = await openStore();
        const session = makeToken('user-1');
        const challenge = makeToken('user-1', { kind: 'mfa' });
        const theirs = makeToken('user-2', { kind: 'mfa' });
        for (const token of [session, challenge, theirs]) await store.putToken(token);
        await store.deleteTokensOfUser('user-1', 'mfa');
        expect(await store.getToken(challenge.hash)).toBeNull();
        expect(await store.getToken(session.hash)).toEqual(session);
        expect(await store.getToken(theirs.hash)).toEqual(theirs);
        // Deleted means dead: a request that read the challenge before cannot write it back.
        await store.putToken(challenge);
        expect(await store.getToken(challenge.hash)).toBeNull();
      });
    });

    describe('attempts per client address', () => {
      const record = (store: Store, ip: string, at: string) =>
        store.reserveIpAttempt(ip, EVER, Number.POSITIVE_INFINITY, at);

      it('counts failures at or after `since`, per address, and keeps them across a reopen', async () => {
        const store = await openStore();
        await record(store, '203.0.113.7', '2026-11-27T10:00:00.000Z');
        await record(store, '203.0.113.7', '2026-11-27T10:10:00.000Z');
        await record(store, '203.0.113.7', '2026-11-27T10:20:00.000Z');
        await record(store, '2001:db8::1', '2026-11-27T10:20:00.000Z');

        expect(await store.countIpFailures('203.0.113.7', '2026-11-27T09:00:00.000Z')).toBe(3);
        const again = await reopen(store);
        expect(await again.countIpFailures('203.0.113.7', '2026-11-27T10:10:00.000Z')).toBe(2);
        expect(await again.countIpFailures('2001:db8::1', '2026-11-27T10:00:00.000Z')).toBe(1);
        expect(await again.countIpFailures('198.51.100.9', '2026-11-27T10:00:00.000Z')).toBe(0);
        expect(await again.countIpFailures('203.0.113.7', '2026-11-27T10:30:00.000Z')).toBe(0);
      });

      it('keeps reservations across a restart once kept, and keeping none changes nothing', async () => {
        const store = await openStore();
        const since = '2026-11-27T09:00:00.000Z';
        expect(await store.reserveIpAttempt('203.0.113.7', since, 5, '2026-11-27T10:00:00.000Z')).toBe(true);
        await store.keepIpAttempts('203.0.113.7');
        await store.keepIpAttempts('198.51.100.9');
        expect(await store.countIpFailures('203.0.113.7', since)).toBe(1);
        const again = await reopen(store);
        expect(await again.countIpFailures('203.0.113.7', since)).toBe(1);
        expect(await again.countIpFailures('198.51.100.9', since)).toBe(0);
      });

      it('records every one of many concurrent failures of one address', async () => {
        const store = await openStore();
        await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            record(store, '203.0.113.7', `2026-11-27T10:00:${String(i).padStart(2, '0')}.000Z`),
          ),
        );
        expect(await store.countIpFailures('203.0.113.7', '2026-11-27T09:00:00.000Z')).toBe(30);
      });

      it('reserves under one lock: of 50 concurrent reservations with room for 20, exactly 20 are granted', async () => {
        const store = await openStore();
        const at = '2026-11-27T10:00:00.000Z';
        const since = '2026-11-27T09:45:00.000Z';
        const granted = await Promise.all(
          Array.from({ length: 50 }, () => store.reserveIpAttempt('203.0.113.7', since, 20, at)),
        );
        expect(granted.filter(Boolean)).toHaveLength(20);
        // Another address has a window of its own.
        expect(await store.reserveIpAttempt('198.51.100.9', since, 20, at)).toBe(true);
        // A release gives back exactly one slot; the rest survive a reopen.
        await store.releaseIpAttempt('203.0.113.7', at);
        const again = await reopen(store);
        expect(await again.countIpFailures('203.0.113.7', since)).toBe(19);
        expect(await again.reserveIpAttempt('203.0.113.7', since, 20, at)).toBe(true);
        expect(await again.reserveIpAttempt('203.0.113.7', since, 20, at)).toBe(false);
        // Attempts before `since` no longer count.
        expect(await again.reserveIpAttempt('203.0.113.7', '2026-11-27T10:00:00.001Z', 20, at)).toBe(true);
        // Releasing what was never reserved changes nothing.
        await again.releaseIpAttempt('203.0.113.7', '2026-11-27T11:00:00.000Z');
        expect(await again.countIpFailures('203.0.113.7', '2026-11-27T10:00:00.000Z')).toBe(1);
      });
    });

    describe('lockouts of unknown names', () => {
      const failOnce = (store: Store, username: string, at: string) =>
        store.updateUnknownNameLockout(username, (lockout) => ({
          lockout: {
            ...lockout,
            failures: [...lockout.failures, at],
            consecutiveFailures: lockout.consecutiveFailures + 1,
          },
          result: lockout.consecutiveFailures + 1,
        }));

      it('starts every name open, keeps one lockout per name whatever its case, across a reopen', async () => {
        const store = await openStore();
        const seen = await store.updateUnknownNameLockout('mallory', (lockout) => ({
          lockout,
          result: lockout,
        }));
        expect(seen).toEqual(OPEN_LOCKOUT);
        expect(await failOnce(store, 'mallory', '2026-11-27T10:00:00.000Z')).toBe(1);
        expect(await failOnce(store, 'MALLORY', '2026-11-27T10:01:00.000Z')).toBe(2);
        expect(await failOnce(store, 'trudy', '2026-11-27T10:02:00.000Z')).toBe(1);
        const locked = { ...OPEN_LOCKOUT, lockedUntil: '2026-11-27T10:15:00.000Z', locks: 1 };
        await store.updateUnknownNameLockout('trudy', () => ({ lockout: locked, result: null }));

        const again = await reopen(store);
        const read = (name: string) =>
          again.updateUnknownNameLockout(name, (lockout) => ({ lockout, result: lockout }));
        expect(await read('Mallory')).toEqual({
          ...OPEN_LOCKOUT,
          failures: ['2026-11-27T10:00:00.000Z', '2026-11-27T10:01:00.000Z'],
          consecutiveFailures: 2,
        });
        expect(await read('trudy')).toEqual(locked);
        expect(await read('eve')).toEqual(OPEN_LOCKOUT);
      });

      it('runs 30 concurrent changes of one name one at a time: none is lost', async () => {
        const store = await openStore();
        const counts = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            failOnce(store, 'mallory', `2026-11-27T10:00:${String(i).padStart(2, '0')}.000Z`),
          ),
        );
        expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      });

      it('keeps an unknown name apart from an account of that name', async () => {
        const store = await openStore();
        await failOnce(store, 'alice', '2026-11-27T10:00:00.000Z');
        const alice = makeUser('alice');
        await store.createUser(alice);
        expect((await store.getUser(alice.id))?.passwordLockout).toEqual(alice.passwordLockout);
      });
    });

    describe('audit log', () => {
      const alice = { id: 'u-alice', username: 'alice' };
      const admin = { id: 'u-admin', username: 'admin' };

      it('lists newest first, with limit, type and user filters, and keeps events across a reopen', async () => {
        const store = await openStore();
        const appended = [];
        appended.push(
          await store.appendAudit(makeEvent({ type: 'login_succeeded', actor: alice, subject: alice })),
        );
        appended.push(
          await store.appendAudit(makeEvent({ type: 'backup_code_used', actor: alice, subject: alice })),
        );
        appended.push(await store.appendAudit(makeEvent({ type: 'policy_changed', actor: admin })));
        appended.push(
          await store.appendAudit(makeEvent({ type: 'backup_codes_revoked', actor: admin, subject: alice })),
        );
        appended.push(
          await store.appendAudit(
            makeEvent({ type: 'backup_code_used', actor: admin, subject: admin, details: { n: 2 } }),
          ),
        );
        expect(new Set(appended.map((event) => event.id)).size).toBe(5);

        const ids = (events: { id: string }[]) => events.map((event) => event.id);
        const [e0, e1, e2, e3, e4] = ids(appended);
        expect(ids(await store.listAudit({ limit: 100 }))).toEqual([e4, e3, e2, e1, e0]);
        expect(ids(await store.listAudit({ limit: 2 }))).toEqual([e4, e3]);
        expect(ids(await store.listAudit({ limit: 10, type: 'backup_code_used' }))).toEqual([e4, e1]);
        // A user's events: those they did and those done to them.
        expect(ids(await store.listAudit({ limit: 10, userId: alice.id }))).toEqual([e3, e1, e0]);
        expect(ids(await store.listAudit({ limit: 10, userId: alice.id, type: 'backup_code_used' }))).toEqual(
          [e1],
        );
        expect(ids(await store.listAudit({ limit: 2, userId: alice.id }))).toEqual([e3, e1]);
        expect(await store.listAudit({ limit: 0 })).toEqual([]);
        expect(await store.listAudit({ limit: 10, userId: 'u-nobody' })).toEqual([]);

        const again = await reopen(store);
        expect(await again.listAudit({ limit: 100 })).toEqual([...appended].reverse());
      });

      it('reads a long log in order, with multi-byte characters intact', async () => {
        const store = await openStore();
        const agent = `Mozilla/5.0 (Ünïcødé ✓ 🔑) ${'x'.repeat(200)}`;
        const appended = [];
        for (let i = 0; i < 600; i++) {
          appended.push(await store.appendAudit(makeEvent({ userAgent: agent, details: { sequence: i } })));
        }
        const listed = await store.listAudit({ limit: 1000 });
        expect(listed).toHaveLength(600);
        expect(listed.map((event) => event.details?.sequence)).toEqual(
          appended.map((event) => event.details?.sequence).reverse(),
        );
        expect(listed.every((event) => event.userAgent === agent)).toBe(true);
      });

      /** Every page of a query, following nextCursor until it is null. */
      async function allPages(store: Store, query: AuditQuery) {
        const pages: AuditEvent[][] = [];
        let cursor: string | undefined;
        do {
          const page = await store.pageAudit(query, cursor);
          expect(page.events.length).toBeLessThanOrEqual(query.limit);
          pages.push(page.events);
          cursor = page.nextCursor ?? undefined;
        } while (cursor && pages.length < 100);
        return { events: pages.flat(), pages: pages.length, endedWithNull: cursor === undefined };
      }

      it('pages newest first with a cursor, through every event once, with the user and type filters', async () => {
        const store = await openStore();
        const appended: AuditEvent[] = [];
        for (let i = 0; i < 23; i++) {
          const type = i % 3 === 0 ? 'backup_code_used' : 'login_succeeded';
          // Alice is the actor of some events and only the subject of others (an admin acting on her).
          const actor = i % 4 === 0 ? admin : alice;
          const subject = i % 5 === 0 ? admin : alice;
          appended.push(await store.appendAudit(makeEvent({ type, actor, subject, details: { i } })));
        }
        const newestFirst = [...appended].reverse();

        const all = await allPages(store, { limit: 5 });
        expect(all.events).toEqual(newestFirst);
        expect(all.endedWithNull).toBe(true);
        const first = await store.pageAudit({ limit: 5 });
        expect(first.events).toEqual(newestFirst.slice(0, 5));
        expect(first.nextCursor).not.toBeNull();
        // The cursor only continues: the same cursor twice gives the same page, and new events do not shift it.
        const second = await store.pageAudit({ limit: 5 }, first.nextCursor ?? undefined);
        await store.appendAudit(makeEvent({ type: 'policy_changed', actor: admin }));
        expect(await store.pageAudit({ limit: 5 }, first.nextCursor ?? undefined)).toEqual(second);
        expect(second.events).toEqual(newestFirst.slice(5, 10));

        const mine = (event: AuditEvent) => event.actor?.id === alice.id || event.subject?.id === alice.id;
        const onlySubject = newestFirst.filter((e) => e.actor?.id !== alice.id && e.subject?.id === alice.id);
        expect(onlySubject.length).toBeGreaterThan(0);
        expect((await allPages(store, { limit: 4, userId: alice.id })).events).toEqual(
          newestFirst.filter(mine),
        );
        expect((await allPages(store, { limit: 3, type: 'backup_code_used' })).events).toEqual(
          newestFirst.filter((e) => e.type === 'backup_code_used'),
        );
        expect(
          (await allPages(store, { limit: 2, userId: alice.id, type: 'backup_code_used' })).events,
        ).toEqual(newestFirst.filter((e) => mine(e) && e.type === 'backup_code_used'));
        expect(await store.pageAudit({ limit: 10, userId: 'u-nobody' })).toEqual({
          events: [],
          nextCursor: null,
        });
      });

      it('ends with a null nextCursor on an empty log and on the last page', async () => {
        const store = await openStore();
        expect(await store.pageAudit({ limit: 10 })).toEqual({ events: [], nextCursor: null });
        for (let i = 0; i < 4; i++) await store.appendAudit(makeEvent({ details: { i } }));
        const { events, pages, endedWithNull } = await allPages(store, { limit: 2 });
        expect(events).toHaveLength(4);
        expect(endedWithNull).toBe(true);
        // A page may be short while older events exist, but never more pages than the events need plus one.
        expect(pages).toBeLessThanOrEqual(3);
      });

      it('refuses a cursor it did not hand out with InvalidCursorError, and changes nothing', async () => {
        const store = await openStore();
        for (let i = 0; i < 3; i++) await store.appendAudit(makeEvent({ details: { i } }));
        // An empty one (`?cursor=`) is no cursor: the first page.
        expect(await store.pageAudit({ limit: 2 }, '')).toEqual(await store.pageAudit({ limit: 2 }));
        const forged = [
          'not-a-cursor',
          Buffer.from('{"v":1,"seq":"-1"}').toString('base64url'),
          Buffer.from('{"v":1,"seq":"99999999999999999999999"}').toString('base64url'),
          Buffer.from('{"s":"x","o":[]}').toString('base64url'),
          Buffer.from('[1,2]').toString('base64url'),
          Buffer.from('null').toString('base64url'),
        ];
        for (const cursor of forged) {
          await expect(store.pageAudit({ limit: 2 }, cursor)).rejects.toBeInstanceOf(InvalidCursorError);
        }
        expect(await store.listAudit({ limit: 10 })).toHaveLength(3);
      });

      it('exports from <= at < to, oldest first, every event once, however many', async () => {
        const store = await openStore();
        const start = Date.parse('2026-01-01T00:00:00.000Z');
        const minute = 60_000;
        const appended: AuditEvent[] = [];
        for (let i = 0; i < 1003; i++) {
          const at = new Date(start + Math.floor(i / 2) * minute).toISOString();
          appended.push(await store.appendAudit(makeEvent({ at, details: { i } })));
        }
        const exported = async (from: string, to: string) => {
          const events: AuditEvent[] = [];
          for await (const event of store.exportAudit(from, to)) events.push(event);
          return events;
        };
        const at = (i: number) => new Date(start + i * minute).toISOString();
        // More than one batch of a server-side reader, two events to an instant, in append order.
        expect(await exported(at(0), at(100_000))).toEqual(appended);
        // `from` is in, `to` is out; whole seconds without milliseconds mean the same instants.
        expect(await exported(at(10), at(20))).toEqual(appended.slice(20, 40));
        expect(await exported(at(10).replace('.000Z', 'Z'), at(20).replace('.000Z', 'Z'))).toEqual(
          appended.slice(20, 40),
        );
        expect(await exported(at(-10), at(0))).toEqual([]);
        expect(await exported(at(1000), at(2000))).toEqual([]);
      });

      it('lists no damaged account on a healthy store', async () => {
        const store = await openStore();
        await store.createUser(makeUser('Alice'));
        await store.listUsers();
        expect(await store.listDamaged()).toEqual([]);
      });
    });

    describe('opening', () => {
      it('sees everything a closed store wrote (durability across a new instance)', async () => {
        const store = await openStore();
        const alice = makeUser('Alice', { role: 'admin' });
        const token = makeToken(alice.id);
        await store.setPolicy(CUSTOM_POLICY);
        await store.createUser(alice);
        await store.putToken(token);
        await store.reserveIpAttempt(
          '203.0.113.7',
          EVER,
          Number.POSITIVE_INFINITY,
          '2026-11-27T10:00:00.000Z',
        );
        const event = await store.appendAudit(makeEvent({ actor: { id: alice.id, username: 'Alice' } }));

        const again = await reopen(store);
        expect(await again.getPolicy()).toEqual(CUSTOM_POLICY);
        expect(await again.findUserByUsername('alice')).toEqual(alice);
        expect(await again.listUsers()).toEqual([alice]);
        expect(await again.getToken(token.hash)).toEqual(token);
        expect(await again.countIpFailures('203.0.113.7', '2026-11-27T09:00:00.000Z')).toBe(1);
        expect(await again.listAudit({ limit: 5 })).toEqual([event]);
        await expect(again.ping()).resolves.toBeUndefined();
      });

      it('refuses every call before open()', async () => {
        const store = await harness.unopened();
        await expect(store.getPolicy()).rejects.toThrow(/not open/);
        await expect(store.countUsers()).rejects.toThrow(/not open/);
        await expect(store.ping()).rejects.toThrow(/not open/);
      });
    });
  });
}
