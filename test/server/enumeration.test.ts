/**
 * Username enumeration: a sign-in for an unknown user must be indistinguishable from one for a known
 * user with a wrong password. Here: the same status, body and headers, and the same password-hashing
 * work, counted through a wrapping Hasher. (How long each takes is compared by `npm run bench`, not by
 * a timed test, which would be flaky on a loaded machine.)
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hasher } from '../../server/crypto/hasher';
import { prepareSignIn } from '../../server/services/auth';
import { newUserRecord } from '../../server/services/users';
import { buildTestApp, type TestApp } from '../support/fakes';
import { call } from '../support/server';

let t: TestApp;
let counts: { hashPassword: number; verifyPassword: number; codeDigest: number };

const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call((req) => t.app.fetch(req), method, path, options);

/** Counts every call into the real (fast) hasher: the hashing work a request caused. */
function counting(inner: Hasher): Hasher {
  return {
    hashPassword: (password) => {
      counts.hashPassword++;
      return inner.hashPassword(password);
    },
    verifyPassword: (hash, password) => {
      counts.verifyPassword++;
      return inner.verifyPassword(hash, password);
    },
    codeDigest: (code, salt) => {
      counts.codeDigest++;
      return inner.codeDigest(code, salt);
    },
  };
}

/** The hashing work one request costs. */
async function workOf(request: () => Promise<unknown>) {
  const before = { ...counts };
  await request();
  return {
    hashPassword: counts.hashPassword - before.hashPassword,
    verifyPassword: counts.verifyPassword - before.verifyPassword,
    codeDigest: counts.codeDigest - before.codeDigest,
  };
}

/** Headers that may differ between any two responses. */
const PER_REQUEST = new Set(['x-request-id', 'set-cookie']);
const headersOf = (headers: Headers) =>
  Object.fromEntries([...headers].filter(([name]) => !PER_REQUEST.has(name)));

beforeEach(async () => {
  t = await buildTestApp({ ipFailureLimit: 1000 });
  counts = { hashPassword: 0, verifyPassword: 0, codeDigest: 0 };
  // The app reads deps.hasher on every request, so swapping it here wraps everything that follows.
  t.deps.hasher = counting(t.deps.hasher);
  await t.deps.store.createUser(await newUserRecord(t.deps, 'alice', 'alice-password', 'user'));
  // What server/main.ts does before it listens.
  await prepareSignIn(t.deps);
});
afterEach(async () => {
  await t.close();
});

describe('the JSON sign-in', () => {
  it('answers an unknown user exactly as a known user with a wrong password, from the very first request', async () => {
    const login = (username: string) =>
      api('POST', '/api/auth/login', { body: { username, password: 'not-the-password' } });
    let unknown: Awaited<ReturnType<typeof login>> | undefined;
    let wrong: Awaited<ReturnType<typeof login>> | undefined;
    // Unknown first: its first request must not be the one that pays for preparing the dummy hash.
    const unknownWork = await workOf(async () => {
      unknown = await login('mallory');
    });
    const wrongWork = await workOf(async () => {
      wrong = await login('alice');
    });
    if (!unknown || !wrong) throw new Error('no responses');

    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual({
      error: { code: 'invalid_credentials', message: 'Invalid username or password.' },
    });
    expect(wrong.status).toBe(unknown.status);
    expect(wrong.body).toEqual(unknown.body);
    expect(headersOf(wrong.headers)).toEqual(headersOf(unknown.headers));

    expect(unknownWork).toEqual({ hashPassword: 0, verifyPassword: 1, codeDigest: 0 });
    expect(wrongWork).toEqual(unknownWork);
  });

  it('costs the same for names of any case or length the schema accepts', async () => {
    const names = ['ALICE-NOT', 'a', 'x'.repeat(64), 'mallory@example.org', 'Ålice'];
    for (const username of names) {
      const work = await workOf(() =>
        api('POST', '/api/auth/login', { body: { username, password: 'not-the-password' } }),
      );
      expect(work, username).toEqual({ hashPassword: 0, verifyPassword: 1, codeDigest: 0 });
    }
  });

  it('records both failures alike in the audit log, naming no subject for the unknown name', async () => {
    await api('POST', '/api/auth/login', { body: { username: 'mallory', password: 'not-the-password' } });
    await api('POST', '/api/auth/login', { body: { username: 'alice', password: 'not-the-password' } });
    const events = await t.deps.store.listAudit({ limit: 10, type: 'login_failed' });
    expect(events).toHaveLength(2);
    expect(events[1]?.subject).toBeNull();
    expect(events[0]?.subject?.username).toBe('alice');
    // People sometimes type their password into the name field: an unknown name is never kept.
    expect(JSON.stringify(events)).not.toContain('mallory');
  });
});

describe('the password lockout', () => {
  const login = (username: string) =>
    api('POST', '/api/auth/login', { body: { username, password: 'not-the-password' } });
  const answer = async (username: string) => {
    const res = await login(username);
    return { status: res.status, body: res.body, retryAfter: res.headers.get('retry-after') };
  };

  it('locks an unknown name exactly when and as long as a known one, with the same answers', async () => {
    const attempts = t.deps.security.passwordLockoutAttempts;
    for (let i = 1; i <= attempts + 2; i++) {
      const known = await answer('alice');
      const unknown = await answer('mallory');
      expect(unknown, `attempt ${i}`).toEqual(known);
      expect(known.status, `attempt ${i}`).toBe(i < attempts ? 401 : 429);
    }
    // The lock is timed alike: both open again at the same moment, and the next lock lasts longer.
    t.clock.advance(t.deps.security.passwordLockoutMs);
    expect(await answer('mallory')).toEqual(await answer('alice'));
    expect((await answer('alice')).status).toBe(401);
    const events = await t.deps.store.listAudit({ limit: 10, type: 'password_locked' });
    expect(events.map((e) => e.details)).toEqual([
      { minutes: t.deps.security.passwordLockoutMs / 60_000, lock: 1 },
      { minutes: t.deps.security.passwordLockoutMs / 60_000, lock: 1 },
    ]);
    expect(JSON.stringify(events)).not.toContain('mallory');
  });

  it('judges at most the limit of guesses at an unknown name, however many arrive at once', async () => {
    const before = counts.verifyPassword;
    const results = await Promise.all(Array.from({ length: 30 }, () => login('mallory')));
    expect(counts.verifyPassword - before).toBe(t.deps.security.passwordLockoutAttempts);
    // The guess that fills the window is refused with the lock it causes, as at an account.
    expect(results.filter((r) => r.status === 401)).toHaveLength(t.deps.security.passwordLockoutAttempts - 1);
    expect(results.filter((r) => r.status === 429)).toHaveLength(
      31 - t.deps.security.passwordLockoutAttempts,
    );
  });
});

describe('the web sign-in', () => {
  /** A form post with a valid double-submit token, as the login page would send it. */
  async function postLogin(username: string) {
    const page = await t.app.fetch(new Request('http://localhost/login'));
    const cookie = page.headers.get('set-cookie')?.split(';')[0] ?? '';
    const csrf = cookie.split('=')[1] ?? '';
    const body = new URLSearchParams({ csrf, username, password: 'not-the-password' });
    const res = await t.app.fetch(
      new Request('http://localhost/login', {
        method: 'POST',
        headers: {
          cookie,
          origin: 'http://localhost',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: body.toString(),
      }),
    );
    // The page carries this browser's own form token; everything else must match.
    return { status: res.status, html: (await res.text()).replaceAll(csrf, 'CSRF'), headers: res.headers };
  }

  it('re-shows the same page for an unknown user and a wrong password, at the same hashing cost', async () => {
    let unknown: Awaited<ReturnType<typeof postLogin>> | undefined;
    let wrong: Awaited<ReturnType<typeof postLogin>> | undefined;
    const unknownWork = await workOf(async () => {
      unknown = await postLogin('alice2');
    });
    const wrongWork = await workOf(async () => {
      wrong = await postLogin('alice');
    });
    if (!unknown || !wrong) throw new Error('no responses');
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    // The page echoes the typed name back into its field; with that put aside, the pages are one.
    expect(wrong.html).toBe(unknown.html.replace('value="alice2"', 'value="alice"'));
    expect(wrong.html).toContain('Invalid username or password.');
    expect(headersOf(wrong.headers)).toEqual(headersOf(unknown.headers));
    expect(unknownWork).toEqual({ hashPassword: 0, verifyPassword: 1, codeDigest: 0 });
    expect(wrongWork).toEqual(unknownWork);
  });
});
