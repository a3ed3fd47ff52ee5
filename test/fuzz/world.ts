/**
 * The world the fuzz tests attack: the real app on a real lowdb store (fast hasher, fake clock),
 * with an admin, a user with an authenticator and a set of backup codes, a user who must enrol, and
 * live session and MFA tokens. Plus the two checks every property makes: the response is a proper
 * refusal (never a 5xx, always the error shape), and the data directory is unchanged by it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import { createApp } from '../../server/app';
import type { SecurityConfig } from '../../server/config';
import { currentTotp } from '../../server/crypto/totp';
import type { Logger } from '../../server/log';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';

export interface World {
  t: TestApp;
  /** The app wired to the same deps, with a logger that keeps what the error handler reports. */
  fetch(request: Request): Promise<Response>;
  unhandled: string[];
  admin: { id: string; token: string; password: string };
  alice: { id: string; token: string; password: string; secret: string; codes: string[] };
  bob: { id: string; password: string };
}

/** Brakes off, so that a fuzz run keeps reaching the code it means to reach instead of a lockout. */
const FUZZ_SECURITY: Partial<SecurityConfig> = {
  mfaLockoutAttempts: 1_000_000,
  passwordLockoutAttempts: 1_000_000,
  adminUnlockAfter: 1_000_000,
  ipFailureLimit: 1_000_000,
  trustProxy: true,
};

export async function buildWorld(): Promise<World> {
  const t = await buildTestApp(FUZZ_SECURITY);
  const unhandled: string[] = [];
  const log: Logger = {
    info() {},
    error: (msg, fields) => unhandled.push(`${msg} ${JSON.stringify(fields)}`),
  };
  const app = createApp(t.deps, log);
  const fetch = async (request: Request) => app.fetch(request);
  const json = async (method: string, path: string, body?: unknown, token?: string) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(
      new Request(new URL(path, 'http://localhost'), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    // biome-ignore lint/suspicious/noExplicitAny: set-up reads fields of known responses.
    const parsed: any = res.status === 204 ? null : await res.json();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(parsed)}`);
    return parsed;
  };

  const adminRecord = await newUserRecord(t.deps, 'admin', 'admin-password', 'admin');
  await t.deps.store.createUser(adminRecord);
  const admin = (await json('POST', '/api/auth/login', { username: 'admin', password: 'admin-password' }))
    .token as string;
  await json(
    'PUT',
    '/api/admin/policy',
    { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 10, warnWhenRemaining: 3 } },
    admin,
  );
  const aliceId = (
    await json('POST', '/api/admin/users', { username: 'alice', password: 'alice-password' }, admin)
  ).user.id as string;
  const secret = (await json('PATCH', `/api/admin/users/${aliceId}`, { mfa: { type: 'totp' } }, admin)).totp
    .secret as string;
  const challenge = await json('POST', '/api/auth/login', { username: 'alice', password: 'alice-password' });
  const aliceToken = (
    await json('POST', '/api/auth/mfa', {
      mfaToken: challenge.mfaToken,
      method: 'totp',
      code: currentTotp(secret, t.clock.now()),
    })
  ).token as string;
  const codes = (
    await json('POST', '/api/me/backup-codes', { password: 'alice-password' }, aliceToken)
  ).codes.map((c: { code: string }) => c.code);
  const bobId = (await json('POST', '/api/admin/users', { username: 'bob', password: 'bob-password' }, admin))
    .user.id as string;
  await json('PATCH', `/api/admin/users/${bobId}`, { mfa: { type: 'totp', configureLater: true } }, admin);

  return {
    t,
    fetch,
    unhandled,
    admin: { id: adminRecord.id, token: admin, password: 'admin-password' },
    alice: { id: aliceId, token: aliceToken, password: 'alice-password', secret, codes },
    bob: { id: bobId, password: 'bob-password' },
  };
}

/** A fresh MFA challenge for `username` (alice: verify; bob: enrol). */
export async function mfaTokenFor(world: World, username: string, password: string): Promise<string> {
  const res = await world.fetch(
    new Request('http://localhost/api/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    }),
  );
  const body = (await res.json()) as { mfaToken?: string };
  if (!body.mfaToken) throw new Error(`no challenge for ${username}: ${JSON.stringify(body)}`);
  return body.mfaToken;
}

/** Every file under the data directory (dotfiles included, so a leftover temp file shows), by path. */
export async function snapshot(dataDir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else files.set(relative(dataDir, path), await readFile(path, 'utf8'));
    }
  };
  await walk(dataDir);
  return files;
}

/**
 * What "unchanged" means after a refused request.
 *
 * strict: every file byte for byte, the audit log included. This holds for every request refused
 * before it reaches a service: bad JSON, wrong types, unknown fields, oversized bodies, bad ids,
 * missing or forged tokens, a non-admin on /api/admin.
 *
 * attempt: a well-formed attempt with a wrong secret (password or code) is refused too, and it is
 * recorded, as it must be: an audit line, the client address's failure count (ip-failures/), the
 * lockout of a name no account has (unknown-names/), and the account's lockouts (the passwordLockout / mfaLockout fields of that user's file).
 * Everything else stays byte for byte the same: no session, no challenge, no code, no policy change.
 */
export type Unchanged = 'strict' | 'attempt';

function comparable(files: Map<string, string>, mode: Unchanged): Map<string, string> {
  if (mode === 'strict') return files;
  const kept = new Map<string, string>();
  for (const [path, text] of files) {
    if (path === 'audit.jsonl' || path.startsWith('ip-failures/') || path.startsWith('unknown-names/'))
      continue;
    if (path.startsWith('users/') && !path.split('/').pop()?.startsWith('.')) {
      // The checksum covers those fields too, so it changes with them.
      const { sum: _s, passwordLockout: _p, mfaLockout: _m, ...rest } = JSON.parse(text);
      kept.set(path, JSON.stringify(rest));
    } else kept.set(path, text);
  }
  return kept;
}

export function expectUnchanged(
  before: Map<string, string>,
  after: Map<string, string>,
  mode: Unchanged,
  what: string,
) {
  const a = comparable(before, mode);
  const b = comparable(after, mode);
  const changed = [...new Set([...a.keys(), ...b.keys()])].filter((path) => a.get(path) !== b.get(path));
  expect(changed, `${what}: files changed by a refused request`).toEqual([]);
}

const ERROR_CODE = /^[a-z]+(_[a-z]+)*$/;

/** A refusal of the JSON API: 4xx, JSON, {"error":{"code","message"}} and nothing else. */
export async function expectApiRefusal(res: Response, what: string) {
  expect(res.status, what).toBeGreaterThanOrEqual(400);
  expect(res.status, what).toBeLessThan(500);
  expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
  const body = (await res.json()) as { error?: { code?: unknown; message?: unknown; field?: unknown } };
  expect(Object.keys(body), what).toEqual(['error']);
  expect(body.error?.code, what).toMatch(ERROR_CODE);
  expect(typeof body.error?.message === 'string' && body.error.message.length > 0, what).toBe(true);
  for (const key of Object.keys(body.error ?? {})) expect(['code', 'message', 'field'], what).toContain(key);
  return body.error as { code: string; message: string; field?: string };
}

/** Sends one request and checks it was refused properly and changed nothing (see Unchanged). */
export async function expectRefusedAndUnchanged(
  world: World,
  request: () => Request,
  mode: Unchanged,
  what: string,
): Promise<{ code: string; status: number }> {
  const before = await snapshot(world.t.dataDir);
  const res = await world.fetch(request());
  const status = res.status;
  const error = await expectApiRefusal(res, what);
  expectUnchanged(before, await snapshot(world.t.dataDir), mode, what);
  expect(world.unhandled, what).toEqual([]);
  return { code: error.code, status };
}
