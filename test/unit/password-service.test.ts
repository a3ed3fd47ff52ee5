/**
 * Password change and reset called directly (real lowdb store, fast hasher): the refusals at their
 * field with the sentence the person reads, what the audit says, and the first admin's generated
 * password file retired by the forced change. test/server/passwords.test.ts covers the HTTP side.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changePassword, resetPassword } from '../../server/services/passwords';
import { startSession } from '../../server/services/sessions';
import { newUserRecord } from '../../server/services/users';
import type { UserRecord } from '../../server/store/types';
import { buildTestApp, type TestApp } from '../support/fakes';
import { auditEvents, META, refusal } from '../support/services';

let t: TestApp;
let root: UserRecord;
let alice: UserRecord;
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

beforeEach(async () => {
  t = await buildTestApp();
  root = await newUserRecord(t.deps, 'root', 'root-password', 'admin');
  alice = await newUserRecord(t.deps, 'alice.liddell', 'alice-password', 'user');
  await t.deps.store.createUser(root);
  await t.deps.store.createUser(alice);
});
afterEach(async () => {
  await t.close();
});

describe('changing one’s password', () => {
  it('refuses the username as the new password, and the current one, each at newPassword', async () => {
    const session = await startSession(t.deps, alice, 'none');
    const asName = await refusal(
      changePassword(
        t.deps,
        META,
        alice,
        { currentPassword: 'alice-password', newPassword: 'Alice.Liddell' },
        session,
      ),
    );
    expect([asName.code, asName.message, asName.extras.field]).toEqual([
      'weak_password',
      'Password must not be the username.',
      'newPassword',
    ]);
    const same = await refusal(
      changePassword(
        t.deps,
        META,
        alice,
        { currentPassword: 'alice-password', newPassword: 'alice-password' },
        session,
      ),
    );
    expect([same.code, same.message, same.extras.field]).toEqual([
      'weak_password',
      'Choose a password different from the current one.',
      'newPassword',
    ]);
  });

  it('a forced change of the first admin’s generated password deletes its file; an unforced one keeps it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sparekey-initial-')), 'initial-admin-password');
    writeFileSync(file, 'generated\n');
    t.deps.initialPassword = { userId: root.id, file };
    const session = await startSession(t.deps, root, 'none');
    await changePassword(
      t.deps,
      META,
      root,
      { currentPassword: 'root-password', newPassword: 'velvet lantern harbour' },
      session,
    );
    expect(existsSync(file)).toBe(true);
    const forced = { ...((await t.deps.store.getUser(root.id)) as UserRecord), mustChangePassword: true };
    await t.deps.store.updateUser(root.id, () => ({ user: forced, result: null }));
    const { token } = await changePassword(
      t.deps,
      META,
      forced,
      { currentPassword: 'velvet lantern harbour', newPassword: 'copper kettle meadow' },
      session,
    );
    expect(token).not.toBe(session);
    expect(existsSync(file)).toBe(false);
    expect((await auditEvents(t.deps, 'password_changed')).map((e) => e.details)).toEqual([
      { forced: true },
      { forced: false },
    ]);
  });
});

describe('while a new password hashes', () => {
  /** Runs `during` before the next password hash, once. */
  function beforeNextHash(during: () => Promise<unknown>) {
    const hash = t.deps.hasher.hashPassword;
    t.deps.hasher.hashPassword = async (password) => {
      t.deps.hasher.hashPassword = hash;
      await during();
      return hash(password);
    };
  }

  it('a change loses to an admin reset made meanwhile: refused as a wrong current password, the reset stands', async () => {
    const session = await startSession(t.deps, alice, 'none');
    let temporary = '';
    beforeNextHash(async () => {
      temporary = (await resetPassword(t.deps, META, root, alice.id, {})).password ?? '';
    });
    const refused = await refusal(
      changePassword(
        t.deps,
        META,
        alice,
        { currentPassword: 'alice-password', newPassword: 'velvet lantern harbour' },
        session,
      ),
    );
    expect([refused.status, refused.message, refused.extras.field]).toEqual([
      401,
      'That is not your current password.',
      'currentPassword',
    ]);
    const stored = await t.deps.store.getUser(alice.id);
    expect(await t.deps.hasher.verifyPassword(stored?.passwordHash ?? '', temporary)).toBe(true);
    expect(stored?.mustChangePassword).toBe(true);
    expect(await auditEvents(t.deps, 'password_changed')).toEqual([]);
  });

  it('a reset of a user deleted meanwhile is not found, and audits nothing', async () => {
    beforeNextHash(() => t.deps.store.deleteUser(alice.id));
    const refused = await refusal(resetPassword(t.deps, META, root, alice.id, {}));
    expect([refused.status, refused.message]).toEqual([404, 'User not found.']);
    expect(await t.deps.store.getUser(alice.id)).toBeNull();
    expect(await auditEvents(t.deps, 'password_reset')).toEqual([]);
  });
});

describe("an admin resetting a user's password", () => {
  it('refuses the username as the temporary password at its field, and an unknown user as not found', async () => {
    const asName = await refusal(resetPassword(t.deps, META, root, alice.id, { password: 'ALICE.liddell' }));
    expect([asName.code, asName.message, asName.extras.field]).toEqual([
      'weak_password',
      'Password must not be the username.',
      'password',
    ]);
    const unknown = await refusal(resetPassword(t.deps, META, root, UNKNOWN, {}));
    expect([unknown.status, unknown.message]).toEqual([404, 'User not found.']);
    const unknownGiven = await refusal(
      resetPassword(t.deps, META, root, UNKNOWN, { password: 'velvet lantern harbour' }),
    );
    expect([unknownGiven.status, unknownGiven.message]).toEqual([404, 'User not found.']);
    expect(await auditEvents(t.deps, 'password_reset')).toEqual([]);
  });

  it('audits whether the password was generated', async () => {
    const generated = await resetPassword(t.deps, META, root, alice.id, {});
    expect(generated.password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    const given = await resetPassword(t.deps, META, root, alice.id, { password: 'velvet lantern harbour' });
    expect(given.password).toBeUndefined();
    expect(given.user.mustChangePassword).toBe(true);
    expect((await auditEvents(t.deps, 'password_reset')).map((e) => e.details)).toEqual([
      { generated: false },
      { generated: true },
    ]);
  });
});
