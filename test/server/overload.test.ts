/**
 * Overload shedding through the real app on a real lowdb store: with the argon2id queue full, sign-in
 * attempts get 503 with Retry-After at once, change nothing and tell nothing, while signed-in users
 * and /healthz carry on. The queue is filled by holding admissions, so the test needs no real load.
 * test/server/overload-http.test.ts floods the real server over HTTP.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app';
import { type Admission, HashQueue } from '../../server/crypto/hash-queue';
import { currentTotp, newTotpSecret } from '../../server/crypto/totp';
import type { Deps } from '../../server/deps';
import { OPEN_LOCKOUT } from '../../server/services/throttle';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

const ADDRESS = '203.0.113.9';
const OTHER_ADDRESS = '203.0.113.77';
const EPOCH = '1970-01-01T00:00:00.000Z';

let t: TestApp;
let queue: HashQueue;
let app: ReturnType<typeof createApp>;
let shedCount: number;
let held: Admission[];
let aliceId: string;
let aliceSecret: string;

const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => app.fetch(req), method, path, {
    ...options,
    headers: { 'x-forwarded-for': ADDRESS, ...options.headers },
  });
const login = (username: string, password: string, from = ADDRESS) =>
  api('POST', '/api/auth/login', { body: { username, password }, headers: { 'x-forwarded-for': from } });

/** Takes admissions until the next would be shed: the queue is now as full as it may get. */
function fill() {
  for (let admission = queue.admit(); admission.admitted; admission = queue.admit()) held.push(admission);
  shedCount = 0;
}
function drain() {
  for (const admission of held) if (admission.admitted) admission.release();
  held = [];
}

beforeEach(async () => {
  t = await buildTestApp({ trustProxy: true, trustProxyHops: 1 });
  shedCount = 0;
  held = [];
  queue = new HashQueue(t.deps.hasher, { concurrency: 1, maxWaitMs: 500, onShed: () => shedCount++ });
  const deps: Deps = { ...t.deps, hasher: queue.hasher, signInGate: queue };
  app = createApp(deps);
  const alice = await newUserRecord(deps, 'alice', 'alice-password', 'user');
  aliceSecret = newTotpSecret();
  alice.mfa = { type: 'totp', secret: aliceSecret, enrolled: true, configureLater: false, lastStep: null };
  aliceId = alice.id;
  await t.deps.store.createUser(alice);
  await t.deps.store.createUser(await newUserRecord(deps, 'bob', 'bob-password', 'user'));
});
afterEach(async () => {
  drain();
  await t.close();
});

describe('sign-in attempts while argon2id is overloaded', () => {
  it('get 503 with Retry-After at once, the same for a known and an unknown user', async () => {
    fill();
    const known = await login('alice', 'wrong-password');
    // From another address: this one's is now told to wait (the test below).
    const unknown = await login('nobody', 'wrong-password', OTHER_ADDRESS);
    for (const res of [known, unknown]) {
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(res.body.error.code).toBe('overloaded');
      expect(res.body.error.message).toMatch(/busy checking other sign-ins\. Try again in \d+ seconds?\./);
    }
    expect(unknown.body).toEqual(known.body);
    expect(unknown.headers.get('retry-after')).toBe(known.headers.get('retry-after'));
    expect(shedCount).toBe(2);
  });

  it('change nothing: no address failure, no MFA failure, no audit event', async () => {
    const challenge = (await login('alice', 'alice-password')).body.mfaToken;
    const auditBefore = (await t.deps.store.listAudit({ limit: 100 })).length;
    fill();
    // At once: after the first, each is early for this address and held up to a second.
    const refused = await Promise.all([
      login('alice', 'wrong-password'),
      login('nobody', 'wrong-password'),
      ...['totp', 'backup_code'].map((method) =>
        api('POST', '/api/auth/mfa', { body: { mfaToken: challenge, method, code: '000000' } }),
      ),
      api('POST', '/api/auth/enroll', { body: { mfaToken: challenge, code: '000000' } }),
    ]);
    expect(refused.map((res) => res.status)).toEqual([503, 503, 503, 503, 503]);
    expect(await t.deps.store.countIpFailures(ADDRESS, EPOCH)).toBe(0);
    const alice = await t.deps.store.getUser(aliceId);
    expect(alice?.passwordLockout).toEqual(OPEN_LOCKOUT);
    expect(alice?.mfaLockout).toEqual(OPEN_LOCKOUT);
    expect((await t.deps.store.listAudit({ limit: 100 })).length).toBe(auditBefore);

    // Once the queue drains, the same attempts are judged and counted: the test above could fail.
    drain();
    expect((await login('alice', 'wrong-password')).status).toBe(401);
    expect(await t.deps.store.countIpFailures(ADDRESS, EPOCH)).toBe(1);
    const code = currentTotp(aliceSecret, t.deps.clock.now());
    const signedIn = await api('POST', '/api/auth/mfa', {
      body: { mfaToken: challenge, method: 'totp', code },
    });
    expect(signedIn.status).toBe(200);
  });

  it('take no per-address or per-account slot: after a shed burst the limits still allow their full count', async () => {
    // Small limits, so a slot kept by a shed attempt would show: 3 per address, 2 wrong passwords per account.
    t.deps.security.ipFailureLimit = 3;
    t.deps.security.passwordLockoutAttempts = 2;
    fill();
    const shed = await Promise.all(Array.from({ length: 20 }, () => login('alice', 'wrong-password')));
    expect(shed.map((res) => res.status)).toEqual(Array(20).fill(503));
    expect(shedCount).toBe(20);
    expect(await t.deps.store.countIpFailures(ADDRESS, EPOCH)).toBe(0);
    drain();
    // The account's two wrong passwords are judged (401), then its lock (429); the address has one slot left.
    expect((await login('alice', 'wrong-password')).status).toBe(401);
    const second = await login('alice', 'wrong-password');
    expect(second.status).toBe(429);
    expect(second.body.error.code).toBe('too_many_attempts');
    expect((await t.deps.store.getUser(aliceId))?.passwordLockout.consecutiveFailures).toBe(2);
    expect((await login('bob', 'wrong-password')).status).toBe(401);
    // Now the address's three slots are spent: the next attempt, even a right password, is throttled.
    const throttled = await login('bob', 'bob-password');
    expect(throttled.status).toBe(429);
  });

  it('from a client back before its Retry-After are answered only when that time has come; other clients at once', async () => {
    fill();
    const first = await login('alice', 'wrong-password');
    expect(first.status).toBe(503);
    const retryAfterMs = Number(first.headers.get('retry-after')) * 1000;
    const order: string[] = [];
    const askedAt = performance.now();
    const [early, elsewhere] = await Promise.all([
      login('alice', 'wrong-password').then((res) => {
        order.push('early');
        return { res, ms: performance.now() - askedAt };
      }),
      login('alice', 'wrong-password', OTHER_ADDRESS).then((res) => {
        order.push('elsewhere');
        return res;
      }),
    ]);
    expect(order).toEqual(['elsewhere', 'early']);
    for (const res of [early.res, elsewhere]) {
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('overloaded');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect(early.ms).toBeGreaterThanOrEqual(retryAfterMs - 100);
    // An IPv6 client is its /64: another address of the same /64 is early too.
    const sixFirst = await login('alice', 'wrong-password', '2001:db8:5:5::1');
    const sixStarted = performance.now();
    const sixEarly = await login('alice', 'wrong-password', '2001:db8:5:5:9::9');
    expect([sixFirst.status, sixEarly.status]).toEqual([503, 503]);
    expect(performance.now() - sixStarted).toBeGreaterThanOrEqual(
      Number(sixFirst.headers.get('retry-after')) * 1000 - 100,
    );
    expect(shedCount).toBe(5);
    expect(await t.deps.store.countIpFailures(ADDRESS, EPOCH)).toBe(0);
    // Only refusals are held: with room in the queue, the same early client is judged at once.
    drain();
    expect((await login('alice', 'wrong-password')).status).toBe(401);
  });

  it('are documented: the OpenAPI document lists 503 (and 408 for a late body) for each sign-in step', async () => {
    const doc = (await api('GET', '/api/openapi.json')).body;
    for (const path of ['/api/auth/login', '/api/auth/mfa', '/api/auth/enroll']) {
      expect(doc.paths[path].post.responses['503'], path).toBeDefined();
      expect(doc.paths[path].post.responses['408'], path).toBeDefined();
    }
    for (const path of ['/api/me/backup-codes', '/api/me/password']) {
      expect(doc.paths[path].post.responses['503'], path).toBeDefined();
      expect(doc.paths[path].post.responses['429'], path).toBeDefined();
    }
  });

  it('leave /healthz and signed-in users alone', async () => {
    const session = (await login('bob', 'bob-password')).body.token;
    fill();
    expect((await api('GET', '/healthz')).status).toBe(200);
    const me = await api('GET', '/api/me', { token: session });
    expect(me.status).toBe(200);
    expect(me.body.user.username).toBe('bob');
    expect((await api('POST', '/api/auth/logout', { token: session })).status).toBe(204);
    expect(shedCount).toBe(0);
  });

  it('give the web sign-in a page that says to try again, with Retry-After', async () => {
    fill();
    const response = await app.fetch(
      new Request('http://localhost/login', {
        method: 'POST',
        headers: {
          accept: 'text/html',
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': ADDRESS,
        },
        body: 'username=alice&password=wrong-password',
      }),
    );
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const html = await response.text();
    expect(html).toContain('<h1>Please try again in a moment</h1>');
    expect(html).toContain('The server is busy checking other sign-ins.');
    // The sign-in page itself still loads.
    const page = await app.fetch(new Request('http://localhost/login', { headers: { accept: 'text/html' } }));
    expect(page.status).toBe(200);
    expect(await t.deps.store.countIpFailures(ADDRESS, EPOCH)).toBe(0);
  });
});

describe('a sign-in attempt whose body is still coming', () => {
  it('takes no place in the gate until its body is in, and gets 408 (connection closed) once signInBodyTimeoutMs has passed', async () => {
    const slowApp = createApp({
      ...t.deps,
      hasher: queue.hasher,
      signInGate: queue,
      security: { ...t.deps.security, signInBodyTimeoutMs: 300 },
    });
    const encoder = new TextEncoder();
    // Part of the body, and then nothing: the stream stays open.
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(encoder.encode('{"username":"alice","pass')),
    });
    const started = performance.now();
    const answer = slowApp.fetch(
      new Request('http://localhost/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': '100', 'x-forwarded-for': ADDRESS },
        body,
        duplex: 'half',
      } as RequestInit),
    );
    await new Promise((done) => setTimeout(done, 150));
    // Nothing was let in: no attempt counts as waiting, and another sign-in is judged as usual.
    expect(queue.oldestWaitMs()).toBe(0);
    expect((await login('bob', 'bob-password', OTHER_ADDRESS)).status).toBe(200);
    const response = await answer;
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(response.status).toBe(408);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({
      error: {
        code: 'request_timeout',
        message: 'The request body did not arrive within 1 second. Send the request again.',
      },
    });
    // The same for a body sent in chunks, with no length announced (the web form this time).
    const chunked = await slowApp.fetch(
      new Request('http://localhost/login', {
        method: 'POST',
        headers: {
          accept: 'text/html',
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': ADDRESS,
        },
        body: new ReadableStream<Uint8Array>({
          start: (controller) => controller.enqueue(encoder.encode('username=alice&pass')),
        }),
        duplex: 'half',
      } as RequestInit),
    );
    expect(chunked.status).toBe(408);
    expect(await chunked.text()).toContain('The request body did not arrive within 1 second.');
    expect(shedCount).toBe(0);
    expect(await t.deps.store.countIpFailures(ADDRESS, EPOCH)).toBe(0);
  });
});

describe('a sign-in among other work that needs argon2id', () => {
  it('has its hash run before the other work waiting in line (the route hashes as a sign-in)', async () => {
    const started: string[] = [];
    let releaseFirst: () => void = () => {};
    const firstHeld = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const fake = t.deps.hasher;
    // Records the order in which hashes start; the first one holds the only slot until released.
    const recording = new HashQueue(
      {
        hashPassword: (password) => fake.hashPassword(password),
        verifyPassword: async (hash, password) => {
          started.push(password);
          if (started.length === 1) await firstHeld;
          return fake.verifyPassword(hash, password);
        },
        codeDigest: (code, salt) => fake.codeDigest(code, salt),
      },
      { concurrency: 1, maxWaitMs: 60_000 },
    );
    const gated = createApp({ ...t.deps, hasher: recording.hasher, signInGate: recording });
    const alice = await t.deps.store.findUserByUsername('alice');
    const hash = alice?.passwordHash ?? '';
    // Work that is not a sign-in (a password change, a code generation) hashes through deps.hasher.
    const otherFirst = recording.hasher.verifyPassword(hash, 'other work 1');
    const otherSecond = recording.hasher.verifyPassword(hash, 'other work 2');
    const signIn = call((req) => gated.fetch(req), 'POST', '/api/auth/login', {
      body: { username: 'alice', password: 'alice-password' },
      headers: { 'x-forwarded-for': ADDRESS },
    });
    while (recording.waiting < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(started).toEqual(['other work 1']);
    releaseFirst();
    const answer = await signIn;
    await Promise.all([otherFirst, otherSecond]);
    expect(started).toEqual(['other work 1', 'alice-password', 'other work 2']);
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('mfa_required');
  });
});
