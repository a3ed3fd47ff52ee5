/**
 * The sign-in service step by step, on the real lowdb store with a fake clock and the fast hasher:
 * what each step answers, what it records, and what happens when the account changes while a code hashes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../server/crypto/tokens';
import { currentTotp } from '../../server/crypto/totp';
import type { ApiError } from '../../server/http/errors';
import { enroll, login, signOut, verifyMfa } from '../../server/services/auth';
import { generateBackupCodes } from '../../server/services/backup-codes';
import { readChallenge, resolveSession, sessionMfaPassed } from '../../server/services/sessions';
import { newUserRecord } from '../../server/services/users';
import { fileWriterThread } from '../../server/store/file-writer';
import { OPEN_LOCKOUT } from '../../server/store/records';
import type { UserRecord } from '../../server/store/types';
import type { LoginResponse } from '../../shared/api';
import { buildTestApp, type TestApp } from '../support/fakes';
import { auditEvents, IP, META, refusal } from '../support/services';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
let t: TestApp;
let alice: UserRecord;

beforeEach(async () => {
  t = await buildTestApp({ mfaLockoutAttempts: 3 });
  await t.deps.store.setPolicy({
    mfaUsage: 'optional_per_user',
    backupCodes: { enabled: true, count: 3, warnWhenRemaining: 1 },
  });
  alice = {
    ...(await newUserRecord(t.deps, 'alice', 'alice-password', 'user')),
    mfa: { type: 'totp', secret: SECRET, enrolled: true, configureLater: false, lastStep: null },
  };
  await t.deps.store.createUser(alice);
});
afterEach(async () => {
  await t.close();
});

const events = (type: string) => auditEvents(t.deps, type);
const totpNow = () => currentTotp(SECRET, t.clock.now());

async function challenge(username = 'alice', password = `${username}-password`) {
  const res = await login(t.deps, META, { username, password });
  if (res.status === 'ok') throw new Error('a challenge expected');
  return res;
}
async function codes(): Promise<string[]> {
  const user = await t.deps.store.getUser(alice.id);
  if (!user) throw new Error('alice expected');
  return (await generateBackupCodes(t.deps, META, user, 'alice-password')).codes.map((c) => c.code);
}

/** Runs `during` while the next backup code hashes, then lets the hash finish. */
function whileCodeHashes(during: () => Promise<unknown>) {
  const hash = t.deps.hasher.codeDigest;
  t.deps.hasher.codeDigest = async (value, salt) => {
    await during();
    return hash(value, salt);
  };
}

describe('the password step', () => {
  it('without MFA: a session at once, audited as a password sign-in', async () => {
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const res = (await login(t.deps, META, { username: 'bob', password: 'bob-password' })) as Extract<
      LoginResponse,
      { status: 'ok' }
    >;
    expect(res.status).toBe('ok');
    expect(res.user).toEqual({ id: expect.any(String), username: 'bob', role: 'user' });
    expect((await resolveSession(t.deps, res.token))?.username).toBe('bob');
    const [event] = await events('login_succeeded');
    expect(event).toMatchObject({ actor: { username: 'bob' }, details: { method: 'password' } });
  });

  it('offers backup codes only while one is usable', async () => {
    expect(await challenge()).toMatchObject({ status: 'mfa_required', methods: ['totp'] });
    await codes();
    expect(await challenge()).toMatchObject({ status: 'mfa_required', methods: ['totp', 'backup_code'] });
  });

  it('an account to enrol gets a new secret held by the challenge, not the account', async () => {
    await t.deps.store.createUser({
      ...(await newUserRecord(t.deps, 'erin', 'erin-password', 'user')),
      mfa: { type: 'totp', secret: null, enrolled: false, configureLater: true, lastStep: null },
    });
    const res = await challenge('erin');
    if (res.status !== 'mfa_enroll') throw new Error('enrolment expected');
    expect(res.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(res.otpauthUri).toContain(`secret=${res.secret}`);
    expect((await t.deps.store.findUserByUsername('erin'))?.mfa.secret).toBeNull();
  });

  it('a wrong password or unknown name: the same refusal, a failure for the address, an audit event', async () => {
    const wrong = await refusal(login(t.deps, META, { username: 'alice', password: 'nope-nope' }));
    const unknown = await refusal(login(t.deps, META, { username: 'mallory', password: 'nope-nope' }));
    expect([wrong.code, unknown.code]).toEqual(['invalid_credentials', 'invalid_credentials']);
    expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(2);
    expect((await events('login_failed')).map((e) => e.subject?.username ?? null)).toEqual([null, 'alice']);
  });
});

describe('the password step while the account changes', () => {
  /** Runs `during` while alice's password hashes, then lets the check finish. */
  function whileHashing(during: () => Promise<unknown>) {
    const verify = t.deps.hasher.verifyPassword;
    t.deps.hasher.verifyPassword = async (hash, password) => {
      await during();
      return verify(hash, password);
    };
  }
  const ipFailures = () => t.deps.store.countIpFailures(IP, new Date(0).toISOString());

  it('a right password is refused with the lock another attempt set while it hashed, and costs the address nothing', async () => {
    whileHashing(() =>
      t.deps.store.updateUser(alice.id, (current) => ({
        user: {
          ...current,
          passwordLockout: {
            ...current.passwordLockout,
            lockedUntil: new Date(t.clock.now() + 60_000).toISOString(),
          },
        },
        result: null,
      })),
    );
    const refused = await refusal(login(t.deps, META, { username: 'alice', password: 'alice-password' }));
    expect(refused.status).toBe(429);
    expect(refused.extras.retryAfter).toBe(60);
    expect(await ipFailures()).toBe(0);
    expect(await events('login_failed')).toEqual([]);
  });

  it('an account deleted while its password hashed is refused like a wrong password, and costs the address nothing', async () => {
    whileHashing(() => t.deps.store.deleteUser(alice.id));
    const refused = await refusal(login(t.deps, META, { username: 'alice', password: 'alice-password' }));
    expect(refused.status).toBe(401);
    expect(refused.code).toBe('invalid_credentials');
    expect(await ipFailures()).toBe(0);
  });
});

describe('the MFA step', () => {
  it('an authenticator code signs in once, audited with its method', async () => {
    const { mfaToken } = await challenge();
    const session = await verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: totpNow() });
    expect(session.user.username).toBe('alice');
    expect(session.backupCodes).toBeUndefined();
    expect((await resolveSession(t.deps, session.token))?.id).toBe(alice.id);
    const [event] = await events('login_succeeded');
    expect(event).toMatchObject({ actor: { id: alice.id }, details: { method: 'totp' } });
    const again = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: totpNow() }));
    expect(again.code).toBe('invalid_mfa_token');
  });

  it('a backup code signs in, is audited with its number and what is left, and the answer says what is left', async () => {
    const [, second = ''] = await codes();
    const before = await t.deps.store.getUser(alice.id);
    const { mfaToken } = await challenge();
    const session = await verifyMfa(t.deps, META, {
      mfaToken,
      method: 'backup_code',
      code: second.toLowerCase(),
    });
    expect(session.backupCodes).toEqual({ remaining: 2 });
    const [used] = await events('backup_code_used');
    expect(used).toMatchObject({ actor: { id: alice.id }, details: { number: 2, remaining: 2 } });
    const [signedIn] = await events('login_succeeded');
    expect(signedIn?.details).toEqual({ method: 'backup_code' });
    const stored = await t.deps.store.getUser(alice.id);
    // The digest stays, so a second use is recognised as such (code_already_used).
    expect(stored?.backupCodes?.codes[1]).toEqual({
      number: 2,
      digest: before?.backupCodes?.codes[1]?.digest,
      usedAt: new Date(t.clock.now()).toISOString(),
    });
    expect(stored?.backupCodes?.codes[0]?.usedAt).toBeNull();
    expect((await resolveSession(t.deps, session.token))?.id).toBe(alice.id);
    expect(await sessionMfaPassed(t.deps, session.token)).toBe('backup_code');
  });

  it('a spent backup code is refused as already used (409), judged no guess and leaves the other codes alone', async () => {
    const [first = ''] = await codes();
    await verifyMfa(t.deps, META, {
      mfaToken: (await challenge()).mfaToken,
      method: 'backup_code',
      code: first,
    });
    const { mfaToken } = await challenge();
    const spentAgain = await refusal(
      verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: first }),
    );
    expect([spentAgain.status, spentAgain.code]).toEqual([409, 'code_already_used']);
    const stored = await t.deps.store.getUser(alice.id);
    expect(stored?.mfaLockout.failures).toEqual([]);
    expect(stored?.backupCodes?.codes.filter((c) => c.usedAt !== null)).toHaveLength(1);
    expect(await events('backup_code_failed')).toEqual([]);
    // Its slot of the address was given back: only real guesses fill the window.
    expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(0);
    // The challenge still works with a code not yet spent.
    expect(await readChallenge(t.deps, mfaToken)).not.toBeNull();
  });

  it('a spent code of a set with no unused code left is still refused as already used, not as wrong', async () => {
    const all = await codes();
    for (const code of all) {
      await verifyMfa(t.deps, META, { mfaToken: (await challenge()).mfaToken, method: 'backup_code', code });
    }
    // Exhausted: the sign-in no longer offers backup codes, but a replay is still recognised.
    const { mfaToken, methods } = (await challenge()) as { mfaToken: string; methods: string[] };
    expect(methods).toEqual(['totp']);
    const replayed = await refusal(
      verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: all[0] ?? '' }),
    );
    expect([replayed.status, replayed.code]).toEqual([409, 'code_already_used']);
    const wrong = await refusal(
      verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: 'AAAAA-AAAAA' }),
    );
    expect([wrong.status, wrong.code]).toEqual([401, 'invalid_code']);
    const stored = await t.deps.store.getUser(alice.id);
    // Only the wrong code counted.
    expect(stored?.mfaLockout.failures).toHaveLength(1);
    expect(await events('backup_code_failed')).toHaveLength(1);
  });

  it('an authenticator code used once is refused as already used when sent again, and not counted', async () => {
    const code = totpNow();
    await verifyMfa(t.deps, META, { mfaToken: (await challenge()).mfaToken, method: 'totp', code });
    const { mfaToken } = await challenge();
    const again = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'totp', code }));
    expect([again.status, again.code]).toEqual([409, 'code_already_used']);
    expect(again.message).toMatch(/authenticator code has already been used/);
    const stored = await t.deps.store.getUser(alice.id);
    expect(stored?.mfaLockout.failures).toEqual([]);
    expect(await events('mfa_failed')).toEqual([]);
    expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(0);
    // The challenge is still alive for the next step's code.
    expect(await readChallenge(t.deps, mfaToken)).not.toBeNull();
  });

  it("a wrong code's lockout, address failure and audit event are written in one batch, before the answer", async () => {
    await codes();
    const { mfaToken } = await challenge();
    const writer = fileWriterThread();
    const before = writer.batchesSent;
    const wrong = await refusal(
      verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: 'AAAAA-AAAAA' }),
    );
    expect(wrong.code).toBe('invalid_code');
    expect(writer.batchesSent - before).toBe(1);
    // All three were on the disk when the refusal came.
    const onDisk = async (...path: string[]) => JSON.parse(await readFile(join(t.dataDir, ...path), 'utf8'));
    expect((await onDisk('users', `${alice.id}.json`)).mfaLockout.failures).toHaveLength(1);
    const [address] = await readdir(join(t.dataDir, 'ip-failures'));
    expect((await onDisk('ip-failures', address ?? '')).failures).toHaveLength(1);
    const log = await readFile(join(t.dataDir, 'audit.jsonl'), 'utf8');
    expect(log.split('\n').filter((line) => line.includes('"backup_code_failed"'))).toHaveLength(1);
  });

  it('wrong codes are audited by method and counted; the last one locks and is audited with the minutes', async () => {
    const { mfaToken } = await challenge();
    const first = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: '000000' }));
    expect(first.code).toBe('invalid_code');
    await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: 'AAAAA-AAAAA' }));
    const locked = await refusal(
      verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: 'nonsense' }),
    );
    expect(locked.status).toBe(429);
    expect(locked.extras.retryAfter).toBe(15 * 60);

    expect((await events('mfa_failed')).map((e) => e.details)).toEqual([{ method: 'totp' }]);
    expect((await events('backup_code_failed')).map((e) => e.details)).toEqual([
      { method: 'backup_code' },
      { method: 'backup_code' },
    ]);
    expect((await events('mfa_locked'))[0]).toMatchObject({
      subject: { id: alice.id },
      details: { minutes: 15 },
    });
    expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(3);
  });

  it('a locked account is refused before any code is hashed, with the time left', async () => {
    const [code = ''] = await codes();
    await t.deps.store.updateUser(alice.id, (current) => ({
      user: {
        ...current,
        mfaLockout: { ...current.mfaLockout, lockedUntil: new Date(t.clock.now() + 90_000).toISOString() },
      },
      result: null,
    }));
    const { mfaToken } = await challenge();
    const before = t.calls.codeDigest;
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code }));
    expect(refused.status).toBe(429);
    expect(refused.extras.retryAfter).toBe(90);
    expect(t.calls.codeDigest).toBe(before);
  });

  it('an account locked by another attempt while this code hashed is refused, and this attempt is not counted', async () => {
    const [code = ''] = await codes();
    const { mfaToken } = await challenge();
    whileCodeHashes(() =>
      t.deps.store.updateUser(alice.id, (current) => ({
        user: {
          ...current,
          mfaLockout: {
            ...current.mfaLockout,
            lockedUntil: new Date(t.clock.now() + 60_000).toISOString(),
            failures: [],
          },
        },
        result: null,
      })),
    );
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code }));
    expect(refused.status).toBe(429);
    expect(refused.extras.retryAfter).toBe(60);
    const stored = await t.deps.store.getUser(alice.id);
    expect(stored?.mfaLockout.failures).toEqual([]);
    expect(stored?.backupCodes?.codes.every((c) => c.usedAt === null)).toBe(true);
  });

  it('a right code of a set replaced while it hashed is refused, and the new set is untouched', async () => {
    const [old = ''] = await codes();
    const { mfaToken } = await challenge();
    const hash = t.deps.hasher.codeDigest;
    let replaced = false;
    t.deps.hasher.codeDigest = async (value, salt) => {
      const digest = await hash(value, salt);
      if (!replaced) {
        replaced = true;
        await codes();
      }
      return digest;
    };
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: old }));
    expect(refused.code).toBe('invalid_code');
    const stored = await t.deps.store.getUser(alice.id);
    expect(stored?.backupCodes?.codes.every((c) => c.usedAt === null)).toBe(true);
  });

  it('a code that cannot be a backup code is refused without hashing and counted', async () => {
    await codes();
    const { mfaToken } = await challenge();
    const before = t.calls.codeDigest;
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: 'ABC' }));
    expect(refused.code).toBe('invalid_code');
    expect(t.calls.codeDigest).toBe(before);
    expect((await t.deps.store.getUser(alice.id))?.mfaLockout.failures).toHaveLength(1);
  });

  it('a right code of a set revoked while it hashed is refused and counted as a wrong code', async () => {
    const [code = ''] = await codes();
    const { mfaToken } = await challenge();
    whileCodeHashes(() =>
      t.deps.store.updateUser(alice.id, (current) => ({
        user: { ...current, backupCodes: null },
        result: null,
      })),
    );
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code }));
    expect(refused.code).toBe('invalid_code');
    expect((await t.deps.store.getUser(alice.id))?.mfaLockout.failures).toHaveLength(1);
    expect(await events('login_succeeded')).toEqual([]);
  });

  it('a backup code is refused once the admin turns codes off', async () => {
    const [code = ''] = await codes();
    const { mfaToken } = await challenge();
    await t.deps.store.setPolicy({
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: false, count: 3, warnWhenRemaining: 1 },
    });
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code }));
    expect(refused.code).toBe('invalid_code');
  });

  it('two different right codes racing on one challenge make exactly one session', async () => {
    const [a = '', b = ''] = await codes();
    const { mfaToken } = await challenge();
    const results = await Promise.allSettled([
      verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: a }),
      verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code: b }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((failed.reason as ApiError).code).toBe('invalid_mfa_token');
  });

  it('a user deleted while the code hashed gets a dead sign-in, not a session', async () => {
    const [code = ''] = await codes();
    const { mfaToken } = await challenge();
    whileCodeHashes(() => t.deps.store.deleteUser(alice.id));
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'backup_code', code }));
    expect(refused.code).toBe('invalid_mfa_token');
    expect(await events('login_succeeded')).toEqual([]);
  });

  it('a user deleted between reading the challenge and reading the account gets a dead sign-in', async () => {
    const { mfaToken } = await challenge();
    const getToken = t.deps.store.getToken.bind(t.deps.store);
    t.deps.store.getToken = async (hash) => {
      const record = await getToken(hash);
      await t.deps.store.deleteUser(alice.id);
      return record;
    };
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: totpNow() }));
    expect(refused.code).toBe('invalid_mfa_token');
    expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(0);
  });

  it('a challenge whose user was deleted is dead', async () => {
    const { mfaToken } = await challenge();
    await t.deps.store.deleteUser(alice.id);
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: totpNow() }));
    expect(refused.code).toBe('invalid_mfa_token');
  });
});

describe('enrolment', () => {
  async function erinChallenge() {
    await t.deps.store.createUser({
      ...(await newUserRecord(t.deps, 'erin', 'erin-password', 'user')),
      mfa: { type: 'totp', secret: null, enrolled: false, configureLater: true, lastStep: null },
    });
    const res = await challenge('erin');
    if (res.status !== 'mfa_enroll') throw new Error('enrolment expected');
    return res;
  }

  it('the MFA step refuses an enrolment challenge, at the method field', async () => {
    const { mfaToken } = await erinChallenge();
    const refused = await refusal(verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: '123456' }));
    expect(refused.status).toBe(400);
    expect(refused.code).toBe('enrollment_required');
    expect(refused.message).toBe('Set up your authenticator app first.');
    expect(refused.extras.field).toBe('method');
  });

  it('enrolment refuses a challenge that enrols nothing', async () => {
    const { mfaToken } = await challenge();
    const refused = await refusal(enroll(t.deps, META, { mfaToken, code: totpNow() }));
    expect(refused.status).toBe(400);
    expect(refused.code).toBe('enrollment_not_pending');
    expect(refused.message).toBe('This sign-in does not set up an authenticator.');
  });

  it('a user deleted just before the first code is stored gets a dead sign-in', async () => {
    const { mfaToken, secret } = await erinChallenge();
    const erin = await t.deps.store.findUserByUsername('erin');
    const update = t.deps.store.updateUser.bind(t.deps.store);
    t.deps.store.updateUser = async (id, change) => {
      await t.deps.store.deleteUser(erin?.id ?? '');
      return update(id, change);
    };
    const refused = await refusal(
      enroll(t.deps, META, { mfaToken, code: currentTotp(secret, t.clock.now()) }),
    );
    expect(refused.code).toBe('invalid_mfa_token');
    expect(await events('mfa_enrolled')).toEqual([]);
  });

  it.each([
    ['an authenticator enrolled since through another sign-in', { enrolled: true, secret: SECRET }],
    [
      'an admin resetting the MFA since (another record)',
      { enrolled: false, secret: null, configureLater: false },
    ],
  ])(
    'an enrolment challenge older than %s is dead: nothing stored, no guess counted, the address slot back',
    async (_, change) => {
      const { mfaToken, secret } = await erinChallenge();
      const erin = await t.deps.store.findUserByUsername('erin');
      const mfa = { ...(erin?.mfa ?? alice.mfa), ...change };
      await t.deps.store.updateUser(erin?.id ?? '', (current) => ({
        user: { ...current, mfa },
        result: null,
      }));
      const code = currentTotp(secret, t.clock.now());
      const refused = await refusal(enroll(t.deps, META, { mfaToken, code }));
      expect(refused.code).toBe('invalid_mfa_token');
      const stored = await t.deps.store.findUserByUsername('erin');
      expect(stored?.mfa).toEqual(mfa);
      expect(stored?.mfaLockout.failures).toEqual([]);
      expect(await t.deps.store.countIpFailures(IP, new Date(0).toISOString())).toBe(0);
      expect(await events('mfa_failed')).toEqual([]);
      // The challenge is gone, not merely refused once.
      expect(await readChallenge(t.deps, mfaToken)).toBeNull();
    },
  );

  it('the first right code stores the secret and its step, audited; a wrong one is audited as enrolment', async () => {
    const { mfaToken, secret } = await erinChallenge();
    const wrong = await refusal(enroll(t.deps, META, { mfaToken, code: '000000' }));
    expect(wrong.code).toBe('invalid_code');
    expect((await events('mfa_failed'))[0]?.details).toEqual({ method: 'enrolment' });

    const session = await enroll(t.deps, META, { mfaToken, code: currentTotp(secret, t.clock.now()) });
    expect(session.user.username).toBe('erin');
    const erin = await t.deps.store.findUserByUsername('erin');
    expect(erin?.mfa).toEqual({
      type: 'totp',
      secret,
      enrolled: true,
      configureLater: false,
      lastStep: Math.floor(t.clock.now() / 30_000),
    });
    expect(erin?.mfaLockout).toEqual(OPEN_LOCKOUT);
    expect((await events('mfa_enrolled'))[0]).toMatchObject({ actor: { username: 'erin' } });
    expect((await events('login_succeeded'))[0]?.details).toEqual({ method: 'enrolment' });
  });
});

describe('signing out', () => {
  it('ends the session and records who left; an unknown token records nothing', async () => {
    const { mfaToken } = await challenge();
    const { token } = await verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: totpNow() });
    await signOut(t.deps, META, token);
    expect(await resolveSession(t.deps, token)).toBeNull();
    expect((await events('logout'))[0]).toMatchObject({ actor: { id: alice.id }, subject: { id: alice.id } });
    await signOut(t.deps, META, token);
    expect(await events('logout')).toHaveLength(1);
  });

  it('signing out of a session the policy no longer accepts succeeds and ends it, recording no one', async () => {
    await t.deps.store.createUser(await newUserRecord(t.deps, 'bob', 'bob-password', 'user'));
    const res = await login(t.deps, META, { username: 'bob', password: 'bob-password' });
    if (res.status !== 'ok') throw new Error('a session expected');
    // The admin now asks everyone for MFA: bob's password-only session no longer counts.
    await t.deps.store.setPolicy({
      mfaUsage: 'required',
      backupCodes: { enabled: true, count: 3, warnWhenRemaining: 1 },
    });
    await signOut(t.deps, META, res.token);
    expect(await t.deps.store.getToken(hashToken(res.token))).toBeNull();
    expect(await events('logout')).toEqual([]);
  });

  it('a store that fails while signing out is reported, not taken for a signed-out session', async () => {
    const { mfaToken } = await challenge();
    const { token } = await verifyMfa(t.deps, META, { mfaToken, method: 'totp', code: totpNow() });
    const broken = new Error('disk gone');
    t.deps.store.getPolicy = async () => {
      throw broken;
    };
    await expect(signOut(t.deps, META, token)).rejects.toBe(broken);
  });
});
