/** Enrolment of an authenticator at sign-in, against an attacker who knows the password. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

let t: TestApp;
const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => t.app.fetch(req), method, path, options);
const ERIN = { username: 'erin', password: 'erin-password' };

beforeEach(async () => {
  t = await buildTestApp();
  await t.deps.store.createUser(await newUserRecord(t.deps, 'admin', 'admin-password', 'admin'));
  const admin = (
    await api('POST', '/api/auth/login', { body: { username: 'admin', password: 'admin-password' } })
  ).body.token;
  expect((await api('POST', '/api/admin/users', { token: admin, body: ERIN })).status).toBe(201);
  const policy = { mfaUsage: 'required', backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 } };
  expect((await api('PUT', '/api/admin/policy', { token: admin, body: policy })).status).toBe(200);
});
afterEach(async () => {
  await t.close();
});

async function startEnrolment() {
  const res = await api('POST', '/api/auth/login', { body: ERIN });
  expect(res.body.status).toBe('mfa_enroll');
  return res.body as { mfaToken: string; secret: string };
}

const enrol = (challenge: { mfaToken: string }, secret: string) =>
  api('POST', '/api/auth/enroll', {
    body: { mfaToken: challenge.mfaToken, code: currentTotp(secret, t.clock.now()) },
  });

describe('an old enrolment challenge', () => {
  it('cannot replace the authenticator the user enrolled since', async () => {
    // The attacker signs in while Erin is unenrolled and keeps the challenge with its pending secret.
    const attacker = await startEnrolment();
    // Erin enrols her own authenticator and generates backup codes.
    const erin = await startEnrolment();
    const enrolled = await enrol(erin, erin.secret);
    expect(enrolled.status).toBe(200);
    const generated = await api('POST', '/api/me/backup-codes', {
      token: enrolled.body.token,
      body: { password: ERIN.password },
    });
    expect(generated.status).toBe(201);

    // The attacker completes the older challenge with their own secret: refused, no session.
    t.clock.advance(30_000);
    const hijack = await enrol(attacker, attacker.secret);
    expect([400, 401]).toContain(hijack.status);
    expect(hijack.body.token).toBeUndefined();

    // Erin's authenticator still works, and her codes are still hers.
    t.clock.advance(30_000);
    const login = await api('POST', '/api/auth/login', { body: ERIN });
    expect(login.body.status).toBe('mfa_required');
    const mfa = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: login.body.mfaToken, method: 'totp', code: currentTotp(erin.secret, t.clock.now()) },
    });
    expect(mfa.status).toBe(200);
    const me = await api('GET', '/api/me', { token: mfa.body.token });
    expect(me.body.backupCodes.remaining).toBe(10);
  });

  it('of two enrolments racing, exactly one authenticator is kept and it works', async () => {
    const first = await startEnrolment();
    const second = await startEnrolment();
    const results = await Promise.all([enrol(first, first.secret), enrol(second, second.secret)]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const winner = results[0]?.status === 200 ? first : second;
    t.clock.advance(30_000);
    const login = await api('POST', '/api/auth/login', { body: ERIN });
    const mfa = await api('POST', '/api/auth/mfa', {
      body: {
        mfaToken: login.body.mfaToken,
        method: 'totp',
        code: currentTotp(winner.secret, t.clock.now()),
      },
    });
    expect(mfa.status).toBe(200);
  });
});
