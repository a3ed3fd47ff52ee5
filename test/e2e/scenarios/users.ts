/** Accounts the scenarios set up through the API, as an admin would, before the browser part starts. */
import * as OTPAuth from 'otpauth';
import { expect } from 'vitest';
import { call } from '../../support/server';

/** A user the admin (signed in as `adminToken`) creates with an authenticator; returns it, unused. */
export async function userWithAuthenticator(
  serverUrl: string,
  adminToken: string,
  username: string,
  password: string,
): Promise<OTPAuth.TOTP> {
  const created = await call(serverUrl, 'POST', '/api/admin/users', {
    token: adminToken,
    body: { username, password, role: 'user' },
  });
  expect(created.status).toBe(201);
  const mfa = await call(serverUrl, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
    token: adminToken,
    body: { mfa: { type: 'totp' } },
  });
  expect(mfa.status).toBe(200);
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(mfa.body.totp.secret as string) });
}

/**
 * A user with an authenticator and a set of backup codes, made through the API (the admin creates
 * them, they sign in with a TOTP code and generate). Returns their authenticator; this 30-s step's
 * code is spent, and the server refuses a step twice.
 */
export async function userWithCodes(
  serverUrl: string,
  adminPassword: string,
  username: string,
  password: string,
): Promise<OTPAuth.TOTP> {
  const admin = await call(serverUrl, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: adminPassword },
  });
  const totp = await userWithAuthenticator(serverUrl, admin.body.token, username, password);
  const step = await call(serverUrl, 'POST', '/api/auth/login', { body: { username, password } });
  const session = await call(serverUrl, 'POST', '/api/auth/mfa', {
    body: { mfaToken: step.body.mfaToken, method: 'totp', code: totp.generate() },
  });
  const generated = await call(serverUrl, 'POST', '/api/me/backup-codes', {
    token: session.body.token,
    body: { password },
  });
  expect(generated.status).toBe(201);
  return totp;
}
