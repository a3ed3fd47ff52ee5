/**
 * The web sign-in forms under hostile posts: arbitrary fields and values, forged or missing form
 * tokens, foreign origins, other content types, garbage cookies, live and dead challenges. Never a
 * 5xx; a refusal is an HTML page or a redirect to one of our own pages; nothing typed is echoed
 * unescaped; and the data directory changes only as the "attempt" rule allows (see world.ts), and
 * not at all unless the post passed the CSRF checks.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oddString } from './inputs';
import { buildWorld, expectUnchanged, mfaTokenFor, snapshot, type World } from './world';

let world: World;
let challenges: { alice: string; bob: string };

const ORIGIN = 'http://localhost';
const KNOWN_LOCATIONS = [
  '/login',
  '/login/mfa',
  '/login/enroll',
  '/account',
  '/login?notice=expired',
  '/login?notice=signed_out',
  '/account/password',
  '/account?notice=password_changed',
];
const GARBAGE_COOKIE = fc.constantFrom('garbage', '..%2F..%2Fpolicy', 'A'.repeat(200), '%00', '""', 'a b');

beforeAll(async () => {
  world = await buildWorld();
  challenges = {
    alice: await mfaTokenFor(world, 'alice', world.alice.password),
    bob: await mfaTokenFor(world, 'bob', world.bob.password),
  };
});
afterAll(async () => {
  await world.t.close();
});

/** A fresh form token, as GET /login gives every browser. */
async function formToken(): Promise<string> {
  const res = await world.fetch(new Request(`${ORIGIN}/login`));
  await res.arrayBuffer();
  const cookie = res.headers.getSetCookie().find((line) => line.startsWith('sparekey_csrf='));
  return cookie?.split(';')[0]?.split('=')[1] ?? '';
}

const post = fc.record({
  path: fc.constantFrom('/login', '/login/mfa', '/login/enroll', '/logout', '/account/password'),
  fields: fc.dictionary(
    fc.constantFrom(
      'username',
      'password',
      'totp',
      'backup_code',
      'csrf',
      'method',
      'extra',
      '',
      'current_password',
      'new_password',
      'confirm_password',
    ),
    oddString,
    { maxKeys: 4 },
  ),
  csrf: fc.constantFrom('valid', 'missing', 'forged', 'cookie only'),
  origin: fc.constantFrom('same', 'foreign', 'none', 'null'),
  type: fc.constantFrom<string | null>(
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-8',
    'multipart/form-data; boundary=x',
    'application/json',
    'text/plain',
    null,
  ),
  challenge: fc.oneof(fc.constantFrom('alice', 'bob', 'none'), GARBAGE_COOKIE),
  session: fc.oneof(fc.constant('none'), GARBAGE_COOKIE),
});

describe('web form posts', () => {
  it('are never a 5xx, refuse as pages or redirects home, echo nothing raw, and change only what they may', async () => {
    await fc.assert(
      fc.asyncProperty(post, async (p) => {
        const token = await formToken();
        const cookies: string[] = [];
        if (p.csrf !== 'missing') cookies.push(`sparekey_csrf=${token}`);
        if (p.challenge === 'alice' || p.challenge === 'bob')
          cookies.push(`sparekey_mfa=${challenges[p.challenge]}`);
        else if (p.challenge !== 'none') cookies.push(`sparekey_mfa=${p.challenge}`);
        if (p.session !== 'none') cookies.push(`sparekey_session=${p.session}`);

        const fields = new URLSearchParams(p.fields);
        if (p.csrf === 'valid') fields.set('csrf', token);
        else if (p.csrf === 'forged') fields.set('csrf', 'A'.repeat(43));
        const headers: Record<string, string> = { cookie: cookies.join('; ') };
        if (p.type) headers['content-type'] = p.type;
        if (p.origin === 'same') headers.origin = ORIGIN;
        else if (p.origin === 'foreign') headers.origin = 'https://evil.example';
        else if (p.origin === 'null') headers.origin = 'null';

        const passesCsrf =
          p.csrf === 'valid' &&
          p.origin !== 'foreign' &&
          p.origin !== 'null' &&
          Boolean(p.type?.includes('urlencoded'));
        const what = `${p.path} ${JSON.stringify(p)}`;
        const before = await snapshot(world.t.dataDir);
        const res = await world.fetch(
          new Request(`${ORIGIN}${p.path}`, { method: 'POST', headers, body: fields.toString() }),
        );
        const html = await res.text();

        expect(res.status, what).toBeLessThan(500);
        if (res.status >= 300 && res.status < 400) {
          expect(KNOWN_LOCATIONS, what).toContain(res.headers.get('location'));
        } else {
          expect(res.headers.get('content-type'), what).toMatch(/^text\/html/);
          for (const value of Object.values(p.fields)) {
            // Short values such as '"' or '<p' are in any page's own markup; a longer one would be an echo.
            if (/[<>"]/.test(value) && value.length >= 8) {
              expect(html.includes(value), `${what}: echoed unescaped`).toBe(false);
            }
          }
        }
        if (!passesCsrf) expect(res.status, what).not.toBe(200);
        expectUnchanged(before, await snapshot(world.t.dataDir), passesCsrf ? 'attempt' : 'strict', what);
        expect(world.unhandled, what).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('well-formed wrong passwords and codes re-show their form with 401 and record only the failure', async () => {
    const filled = oddString.filter((s) => s.trim().length > 0 && s.length <= 64);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('password', 'totp', 'backup_code', 'enroll'),
        filled,
        filled,
        async (step, first, second) => {
          const token = await formToken();
          const cookies = [`sparekey_csrf=${token}`];
          const fields = new URLSearchParams({ csrf: token });
          let path = '/login';
          if (step === 'password') {
            fields.set('username', first);
            fields.set('password', second);
          } else if (step === 'enroll') {
            path = '/login/enroll';
            cookies.push(`sparekey_mfa=${challenges.bob}`);
            fields.set('totp', first);
          } else {
            path = '/login/mfa';
            cookies.push(`sparekey_mfa=${challenges.alice}`);
            fields.set(step, first);
          }
          const before = await snapshot(world.t.dataDir);
          const res = await world.fetch(
            new Request(`${ORIGIN}${path}`, {
              method: 'POST',
              headers: {
                cookie: cookies.join('; '),
                origin: ORIGIN,
                'content-type': 'application/x-www-form-urlencoded',
              },
              body: fields.toString(),
            }),
          );
          const html = await res.text();
          const what = `${step} ${first} ${second}`;
          expect(res.status, what).toBe(401);
          expect(html, what).toMatch(/Invalid username or password\.|That code is not valid\./);
          expectUnchanged(before, await snapshot(world.t.dataDir), 'attempt', what);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a notice or method in the query string is chosen from a fixed list, never echoed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/login', '/login/mfa', '/login/enroll', '/account', '/account/password', '/'),
        fc.dictionary(fc.constantFrom('notice', 'method', 'next', 'redirect'), oddString, { maxKeys: 3 }),
        async (path, query) => {
          let search: string;
          try {
            search = new URLSearchParams(query).toString();
          } catch {
            return;
          }
          const res = await world.fetch(
            new Request(`${ORIGIN}${path}?${search}`, {
              headers: { cookie: `sparekey_mfa=${challenges.alice}` },
            }),
          );
          const html = await res.text();
          expect(res.status, path).toBeLessThan(500);
          if (res.status >= 300 && res.status < 400)
            expect(KNOWN_LOCATIONS).toContain(res.headers.get('location'));
          for (const value of Object.values(query)) {
            if (value.length >= 4 && /[^A-Za-z0-9_ ]/.test(value))
              expect(html.includes(value), value).toBe(false);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
