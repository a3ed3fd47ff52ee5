/**
 * The brakes on account changes that cost argon2id work but are not sign-ins (services/account-limits.ts),
 * through the real app on a real lowdb store: a few sets of backup codes and a few password changes a
 * minute per user and per address, 429 with Retry-After past that, and nothing started while sign-ins
 * are being shed. test/server/overload-abuse-http.test.ts loops generation against the real server.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app';
import { type Admission, HashQueue } from '../../server/crypto/hash-queue';
import { newTotpSecret } from '../../server/crypto/totp';
import type { Deps } from '../../server/deps';
import { startSession } from '../../server/services/sessions';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

/** The documented defaults (CHANGE_LIMIT_PER_USER, CHANGE_LIMIT_PER_ADDRESS) and the sliding minute. */
const PER_USER = 3;
const PER_ADDRESS = 20;
const WINDOW_MS = 60_000;

const ADDRESS = '203.0.113.9';
const OTHER_ADDRESS = '198.51.100.7';

let t: TestApp;
let deps: Deps;
let app: ReturnType<typeof createApp>;

const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}, from = ADDRESS) =>
  call((req) => app.fetch(req), method, path, {
    ...options,
    headers: { 'x-forwarded-for': from, ...options.headers },
  });

/** A user with an enrolled authenticator (backup codes need one) and a session that passed it. */
async function signedInUser(username: string) {
  const password = `${username}-password-123`;
  const user = await newUserRecord(deps, username, password, 'user');
  user.mfa = { type: 'totp', secret: newTotpSecret(), enrolled: true, configureLater: false, lastStep: null };
  await deps.store.createUser(user);
  return { id: user.id, username, password, token: await startSession(deps, user, 'totp') };
}

const generate = (user: { token: string; password: string }, from = ADDRESS, password = user.password) =>
  api('POST', '/api/me/backup-codes', { token: user.token, body: { password } }, from);

function expectLimited(res: Awaited<ReturnType<typeof api>>) {
  expect(res.status).toBe(429);
  expect(res.body.error).toEqual({
    code: 'too_many_requests',
    message: 'This was done too often in the last minute. Try again in a minute.',
  });
  expect(res.headers.get('retry-after')).toBe('60');
}

function useApp(next: Deps) {
  deps = next;
  app = createApp(deps);
}

beforeEach(async () => {
  t = await buildTestApp({ trustProxy: true, trustProxyHops: 1 });
  useApp(t.deps);
  await deps.store.setPolicy({
    mfaUsage: 'optional_per_user',
    backupCodes: { enabled: true, count: 10, warnWhenRemaining: 2 },
  });
});
afterEach(async () => {
  await t.close();
});

describe('generating backup codes', () => {
  it('12 requests at once: a few sets are made, the rest get 429 with Retry-After before any hashing', async () => {
    const mallory = await signedInUser('mallory');
    const answers = await Promise.all(Array.from({ length: 12 }, () => generate(mallory)));
    expect(answers.filter((res) => res.status === 201)).toHaveLength(PER_USER);
    for (const res of answers.filter((r) => r.status !== 201)) expectLimited(res);
    // One password check and ten codes per set made; nothing for the refused ones.
    expect(t.calls.verifyPassword).toBe(PER_USER);
    expect(t.calls.codeDigest).toBe(PER_USER * 10);
    expectLimited(await generate(mallory));
    // The window slides: a minute later there is room again.
    t.clock.advance(WINDOW_MS + 1);
    expect((await generate(mallory)).status).toBe(201);
  });

  it('a set made has its places on the disk by the time it is answered, so a restart keeps the limit', async () => {
    const mallory = await signedInUser('mallory');
    for (let i = 0; i < PER_USER; i++) expect((await generate(mallory)).status).toBe(201);
    const dir = join(t.dataDir, 'ip-failures');
    const lists = await Promise.all(
      (await readdir(dir)).map(async (name) => JSON.parse(await readFile(join(dir, name), 'utf8')).failures),
    );
    // The user's places and the address's, three each.
    expect(lists.map((failures: string[]) => failures.length)).toEqual([PER_USER, PER_USER]);
  });

  it('a wrong password or a refusal costs no place; only a set made does', async () => {
    const alice = await signedInUser('alice');
    for (let i = 0; i < 5; i++) expect((await generate(alice, ADDRESS, 'not-the-password')).status).toBe(401);
    await deps.store.setPolicy({
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: false, count: 10, warnWhenRemaining: 2 },
    });
    expect((await generate(alice)).status).toBe(403);
    await deps.store.setPolicy({
      mfaUsage: 'optional_per_user',
      backupCodes: { enabled: true, count: 10, warnWhenRemaining: 2 },
    });
    for (let i = 0; i < PER_USER; i++) expect((await generate(alice)).status).toBe(201);
    expectLimited(await generate(alice));
  });

  it('the operator sets the limits: CHANGE_LIMIT_PER_USER and CHANGE_LIMIT_PER_ADDRESS', async () => {
    useApp({ ...t.deps, security: { ...t.deps.security, changeLimitPerUser: 5, changeLimitPerAddress: 6 } });
    const alice = await signedInUser('alice');
    const bob = await signedInUser('bob');
    for (let i = 0; i < 5; i++) expect((await generate(alice)).status).toBe(201);
    expectLimited(await generate(alice));
    // The address has room for one more change in the minute, whoever asks.
    expect((await generate(bob)).status).toBe(201);
    expectLimited(await generate(bob));
  });

  it('one address is limited across its users; another address and other users elsewhere are not', async () => {
    const users = await Promise.all(Array.from({ length: 7 }, (_, i) => signedInUser(`user-${i}`)));
    let made = 0;
    for (const user of users) {
      for (let i = 0; i < PER_USER && made < PER_ADDRESS; i++, made++) {
        expect((await generate(user)).status).toBe(201);
      }
    }
    const last = users.at(-1);
    if (!last) throw new Error('no users');
    expectLimited(await generate(last));
    expect((await generate(last, OTHER_ADDRESS)).status).toBe(201);
    // One user is limited wherever they ask from.
    const first = users[0];
    if (!first) throw new Error('no users');
    expectLimited(await generate(first, OTHER_ADDRESS));
  });
});

describe('changing one’s password over the API', () => {
  it('a few changes a minute; the next gets 429 and the password stays as it is', async () => {
    const alice = await signedInUser('alice');
    let token = alice.token;
    let password = alice.password;
    for (let i = 0; i < PER_USER; i++) {
      const next = `velvet-lantern-harbour-${i}`;
      const changed = await api('POST', '/api/me/password', {
        token,
        body: { currentPassword: password, newPassword: next },
      });
      expect(changed.status).toBe(200);
      [token, password] = [changed.body.token, next];
    }
    const refused = await api('POST', '/api/me/password', {
      token,
      body: { currentPassword: password, newPassword: 'quiet-copper-meadow' },
    });
    expectLimited(refused);
    const login = await api('POST', '/api/auth/login', { body: { username: 'alice', password } });
    expect(login.status).toBe(200);
  });
});

describe('while sign-ins are being shed', () => {
  let queue: HashQueue;
  let held: Admission[];

  beforeEach(() => {
    queue = new HashQueue(t.deps.hasher, { concurrency: 1, maxWaitMs: 500 });
    held = [];
    useApp({ ...t.deps, hasher: queue.hasher, signInGate: queue });
  });
  afterEach(() => {
    for (const admission of held) if (admission.admitted) admission.release();
  });

  it('no set is generated and no password changed: 503 with Retry-After, and no place is taken', async () => {
    const alice = await signedInUser('alice');
    for (let admission = queue.admit(ADDRESS); admission.admitted; admission = queue.admit(ADDRESS)) {
      held.push(admission);
    }
    const refused = await generate(alice);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('overloaded');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const change = await api('POST', '/api/me/password', {
      token: alice.token,
      body: { currentPassword: alice.password, newPassword: 'velvet-lantern-harbour' },
    });
    expect(change.status).toBe(503);
    expect(t.calls.verifyPassword).toBe(0);

    // Once the sign-ins are answered and shedding has stopped, the user's full allowance is there.
    for (const admission of held) if (admission.admitted) admission.release();
    held = [];
    await new Promise((done) => setTimeout(done, 5100));
    for (let i = 0; i < PER_USER; i++) expect((await generate(alice)).status).toBe(201);
  }, 15_000);
});
