/**
 * Sessions and MFA challenges at the exact millisecond they die, and what keeps a session alive.
 * The real lowdb store and the session service, with a fake clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../server/crypto/tokens';
import {
  endSession,
  finishChallenge,
  mfaFingerprint,
  readChallenge,
  resolveSession,
  sessionMfaPassed,
  startChallenge,
  startSession,
} from '../../server/services/sessions';
import { newUserRecord } from '../../server/services/users';
import type { UserRecord } from '../../server/store/types';
import { buildTestApp, type TestApp } from '../support/fakes';

const MINUTE = 60_000;
const IDLE = 30 * MINUTE;
const MAX = 12 * 60 * MINUTE;
const CHALLENGE = 5 * MINUTE;

let t: TestApp;
let alice: UserRecord;
let start: number;

beforeEach(async () => {
  t = await buildTestApp({ sessionIdleMs: IDLE, sessionMaxMs: MAX, mfaTokenMs: CHALLENGE });
  alice = await newUserRecord(t.deps, 'alice', 'alice-password', 'user');
  await t.deps.store.createUser(alice);
  start = t.clock.now();
});
afterEach(async () => {
  await t.close();
});

const at = (ms: number) => {
  t.clock.ms = start + ms;
};
const stored = (token: string) => t.deps.store.getToken(hashToken(token));
/** A request that does not count as the person using the session (a background poll). */
const poll = (token: string) => resolveSession(t.deps, token, { activity: false });

describe('a session', () => {
  it('is stored only as its hash, with its creation, last use and absolute end', async () => {
    const token = await startSession(t.deps, alice, 'none');
    const record = await stored(token);
    expect(record).toEqual({
      hash: hashToken(token),
      kind: 'session',
      userId: alice.id,
      createdAt: new Date(start).toISOString(),
      lastSeenAt: new Date(start).toISOString(),
      expiresAt: new Date(start + MAX).toISOString(),
      mfaPassed: 'none',
    });
    expect(JSON.stringify(record)).not.toContain(token);
  });

  it('dies at the exact millisecond it has been idle for the idle time, and is deleted', async () => {
    const token = await startSession(t.deps, alice, 'none');
    at(IDLE - 1);
    expect((await poll(token))?.id).toBe(alice.id);
    at(IDLE);
    expect(await poll(token)).toBeNull();
    expect(await stored(token)).toBeNull();
    // Gone for good: going back in time does not revive it.
    at(0);
    expect(await resolveSession(t.deps, token)).toBeNull();
  });

  it('dies at the exact millisecond of its absolute lifetime even while in use', async () => {
    const token = await startSession(t.deps, alice, 'none');
    for (let used = 25 * MINUTE; used < MAX; used += 25 * MINUTE) {
      at(used);
      expect(await resolveSession(t.deps, token)).not.toBeNull();
    }
    at(MAX - 1);
    expect(await resolveSession(t.deps, token)).not.toBeNull();
    at(MAX);
    expect(await resolveSession(t.deps, token)).toBeNull();
    expect(await stored(token)).toBeNull();
  });

  it('is kept alive by the person using it (the default, as on the web pages), not by a background poll', async () => {
    const used = await startSession(t.deps, alice, 'none');
    const polled = await startSession(t.deps, alice, 'none');
    at(20 * MINUTE);
    expect(await resolveSession(t.deps, used)).not.toBeNull();
    expect(await poll(polled)).not.toBeNull();
    at(45 * MINUTE);
    expect(await poll(used)).not.toBeNull();
    expect(await poll(polled)).toBeNull();
  });

  it('records a use at most once a minute (no disk write per request)', async () => {
    const token = await startSession(t.deps, alice, 'none');
    at(MINUTE - 1);
    await resolveSession(t.deps, token);
    expect((await stored(token))?.lastSeenAt).toBe(new Date(start).toISOString());
    at(MINUTE);
    await resolveSession(t.deps, token);
    expect((await stored(token))?.lastSeenAt).toBe(new Date(start + MINUTE).toISOString());
    // The idle time now counts from that use.
    at(MINUTE + IDLE - 1);
    expect(await poll(token)).not.toBeNull();
    at(MINUTE + IDLE);
    expect(await poll(token)).toBeNull();
  });

  it('dies with its user, and the token is deleted', async () => {
    const token = await startSession(t.deps, alice, 'none');
    await t.deps.store.deleteUser(alice.id);
    expect(await resolveSession(t.deps, token)).toBeNull();
    expect(await stored(token)).toBeNull();
  });

  it('whose user is gone from the store while its token stayed (a crash between the two) is refused and deleted', async () => {
    const token = 'orphan-session-token';
    const now = new Date(start).toISOString();
    await t.deps.store.putToken({
      hash: hashToken(token),
      kind: 'session',
      userId: '00000000-0000-4000-8000-000000000000',
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(start + MAX).toISOString(),
    });
    at(2 * MINUTE);
    expect(await resolveSession(t.deps, token)).toBeNull();
    expect(await stored(token)).toBeNull();
  });

  it('remembers the MFA step it passed, and one without any dies once the policy asks this user for MFA', async () => {
    const passwordOnly = await startSession(t.deps, alice, 'none');
    const withCode = await startSession(t.deps, alice, 'backup_code');
    expect(await sessionMfaPassed(t.deps, withCode)).toBe('backup_code');
    expect(await sessionMfaPassed(t.deps, passwordOnly)).toBe('none');
    expect(await sessionMfaPassed(t.deps, 'not-a-token')).toBe('none');
    await t.deps.store.setPolicy({ ...(await t.deps.store.getPolicy()), mfaUsage: 'required' });
    await expect(resolveSession(t.deps, passwordOnly)).rejects.toMatchObject({
      status: 401,
      code: 'mfa_step_required',
    });
    expect(await stored(passwordOnly)).toBeNull();
    expect((await resolveSession(t.deps, withCode))?.id).toBe(alice.id);
  });

  it('ends at sign-out', async () => {
    const token = await startSession(t.deps, alice, 'none');
    const other = await startSession(t.deps, alice, 'none');
    await endSession(t.deps, token);
    expect(await resolveSession(t.deps, token)).toBeNull();
    expect(await resolveSession(t.deps, other)).not.toBeNull();
  });

  it('cannot be used as an MFA challenge, nor a challenge as a session', async () => {
    const session = await startSession(t.deps, alice, 'none');
    const challenge = await startChallenge(t.deps, alice);
    expect(await readChallenge(t.deps, session)).toBeNull();
    expect(await resolveSession(t.deps, challenge)).toBeNull();
    expect(await resolveSession(t.deps, 'not-a-token')).toBeNull();
    // Neither refusal destroyed the other kind's token.
    expect(await resolveSession(t.deps, session)).not.toBeNull();
    expect(await readChallenge(t.deps, challenge)).not.toBeNull();
  });
});

describe('an MFA challenge', () => {
  it('lives 5 minutes to the millisecond, then is deleted', async () => {
    const token = await startChallenge(t.deps, alice);
    expect((await stored(token))?.expiresAt).toBe(new Date(start + CHALLENGE).toISOString());
    at(CHALLENGE - 1);
    expect((await readChallenge(t.deps, token))?.userId).toBe(alice.id);
    at(CHALLENGE);
    expect(await readChallenge(t.deps, token)).toBeNull();
    expect(await stored(token)).toBeNull();
  });

  it('holds the pending authenticator secret of an enrolment, and none otherwise', async () => {
    const enrol = await readChallenge(t.deps, await startChallenge(t.deps, alice, 'JBSWY3DPEHPK3PXP'));
    expect(enrol?.pendingSecret).toBe('JBSWY3DPEHPK3PXP');
    const verify = await readChallenge(t.deps, await startChallenge(t.deps, alice));
    expect(verify?.pendingSecret).toBeNull();
    expect(verify?.kind).toBe('mfa');
    // Bound to the authenticator as it was, stored only as a digest of it.
    expect(verify?.mfaFingerprint).toBe(mfaFingerprint(alice));
    expect(JSON.stringify(enrol)).not.toContain(alice.mfa.secret ?? 'JBSWY3DPEHPK3PXP-never');
    const changed = { ...alice, mfa: { ...alice.mfa, type: 'totp' as const, secret: 'KRSXG5CTMVRXEZLU' } };
    expect(mfaFingerprint(changed)).not.toBe(mfaFingerprint(alice));
    expect(mfaFingerprint({ ...alice, mfa: { ...alice.mfa, lastStep: 123 } })).toBe(mfaFingerprint(alice));
  });

  it('finishes for exactly one caller', async () => {
    const challenge = await readChallenge(t.deps, await startChallenge(t.deps, alice));
    if (!challenge) throw new Error('challenge expected');
    const results = await Promise.all([
      finishChallenge(t.deps, challenge),
      finishChallenge(t.deps, challenge),
    ]);
    expect(results.sort()).toEqual([false, true]);
    expect(await finishChallenge(t.deps, challenge)).toBe(false);
  });
});
