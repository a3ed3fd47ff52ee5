/** Enrolment of an authenticator at sign-in through a running server's API, for tests that need one pending. */
import { expect } from 'vitest';
import { adminToken } from '../../bench/accounts';
import { currentTotp } from '../../server/crypto/totp';
import { call, type RunningServer } from './server';

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Users with no authenticator under a policy that requires one: each sign-in starts an enrolment.
 * The admin's session is taken first (the admin has no authenticator either).
 */
export async function enrolmentUsers(server: RunningServer, ...usernames: string[]) {
  const admin = await adminToken(server);
  const users: Credentials[] = [];
  for (const username of usernames) {
    const user = { username, password: `${username}-password` };
    const created = await call(server.url, 'POST', '/api/admin/users', { token: admin, body: user });
    expect(created.status).toBe(201);
    users.push(user);
  }
  const policy = { mfaUsage: 'required', backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 } };
  expect((await call(server.url, 'PUT', '/api/admin/policy', { token: admin, body: policy })).status).toBe(
    200,
  );
  return users;
}

/** The password step of an unenrolled user: the challenge and the secret shown to be registered. */
export async function startEnrolment(server: RunningServer, user: Credentials) {
  const res = await call(server.url, 'POST', '/api/auth/login', { body: user });
  expect(res.body.status).toBe('mfa_enroll');
  return res.body as { mfaToken: string; secret: string };
}

export const confirmEnrolment = (server: RunningServer, mfaToken: string, secret: string) =>
  call(server.url, 'POST', '/api/auth/enroll', { body: { mfaToken, code: currentTotp(secret, Date.now()) } });
