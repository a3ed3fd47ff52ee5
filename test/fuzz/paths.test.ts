/**
 * Paths, methods and query strings: path parameters that are not ids (traversal, bad percent
 * escapes, odd Unicode, unknown UUIDs), every method on every path, arbitrary audit queries, and a
 * signed-in non-admin on every admin endpoint. Never a 5xx, always the error shape, nothing changed.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oddString } from './inputs';
import {
  buildWorld,
  expectApiRefusal,
  expectRefusedAndUnchanged,
  expectUnchanged,
  snapshot,
  type World,
} from './world';

let world: World;

beforeAll(async () => {
  world = await buildWorld();
});
afterAll(async () => {
  await world.t.close();
});

const RUNS = { numRuns: 100 };

function req(method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  return () => {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return new Request(`http://localhost${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  };
}

/** A path segment that is not the id of an existing user. */
const notAnId: fc.Arbitrary<string> = fc.oneof(
  oddString
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return encodeURIComponent(s);
      } catch {
        return '%ZZ'; // a lone surrogate cannot be encoded: send a malformed escape instead
      }
    }),
  fc.constantFrom(
    '..',
    '%2e%2e',
    '..%2F..%2Fpolicy',
    '%00',
    '%E0%A4%A',
    '%',
    '%%30',
    'index',
    'policy',
    '00000000-0000-0000-0000-000000000000',
    'a'.repeat(500),
    '%F0%9F%98%80',
  ),
  fc.uuid(),
  fc.uuid().map((id) => id.toUpperCase()),
);

describe('path parameters that are not ids', () => {
  it('are refused on every route that takes a user id, and change nothing', async () => {
    const routes = [
      { method: 'PATCH', suffix: '', body: { role: 'user' } },
      { method: 'DELETE', suffix: '', body: undefined },
      { method: 'DELETE', suffix: '/backup-codes', body: undefined },
      { method: 'POST', suffix: '/password', body: {} },
      { method: 'POST', suffix: '/unlock', body: undefined },
    ];
    const real = () => [world.admin.id, world.alice.id, world.bob.id].map((id) => id.toLowerCase());
    await fc.assert(
      fc.asyncProperty(notAnId, fc.constantFrom(...routes), async (id, route) => {
        fc.pre(!real().includes(id.toLowerCase()));
        const path = `/api/admin/users/${id}${route.suffix}`;
        const { status, code } = await expectRefusedAndUnchanged(
          world,
          req(route.method, path, { token: world.admin.token, body: route.body }),
          'strict',
          `${route.method} ${path}`,
        );
        expect([400, 404], path).toContain(status);
        expect(['invalid_request', 'not_found'], path).toContain(code);
      }),
      RUNS,
    );
  });
});

describe('methods', () => {
  const PATHS = [
    '/api/auth/login',
    '/api/auth/mfa',
    '/api/auth/enroll',
    '/api/auth/logout',
    '/api/me',
    '/api/me/backup-codes',
    '/api/me/events',
    '/api/me/password',
    '/api/admin/policy',
    '/api/admin/users',
    '/api/admin/audit',
    '/healthz',
    '/api/openapi.json',
    '/api/nope',
    '/',
  ];

  it('any method on any path, without a session, is answered below 500 and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PATHS),
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
        fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
        async (path, method, body) => {
          const sendBody = method === 'GET' || method === 'HEAD' ? undefined : body;
          const before = await snapshot(world.t.dataDir);
          const res = await world.fetch(req(method, path, { body: sendBody })());
          const what = `${method} ${path}`;
          expect(res.status, what).toBeLessThan(500);
          const isJsonApi = path.startsWith('/api/') || path === '/healthz';
          if (res.status >= 400 && method !== 'HEAD' && isJsonApi) await expectApiRefusal(res, what);
          else await res.arrayBuffer();
          // Nothing here may write: no session is sent and no body can be a well-formed sign-in.
          expectUnchanged(before, await snapshot(world.t.dataDir), 'strict', what);
          expect(world.unhandled).toEqual([]);
        },
      ),
      RUNS,
    );
  });
});

describe('the audit query string', () => {
  it('any query is either a listing within the limit or a 400 with the error shape', async () => {
    const key = fc.constantFrom('limit', 'userId', 'type', 'offset', 'limit[]', '__proto__', '');
    const value = fc.oneof(
      fc.constantFrom('1', '500', '501', '0', '-1', '1e3', '1.5', 'NaN', 'Infinity', '0x10', ' 7', ''),
      fc.constantFrom('backup_code_used', 'login_failed', 'nope'),
      fc.uuid(),
      oddString,
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(key, value), { maxLength: 4 }), async (pairs) => {
        let query: string;
        try {
          query = new URLSearchParams(pairs).toString();
        } catch {
          return; // a lone surrogate: no client could send it
        }
        const path = `/api/admin/audit?${query}`;
        const before = await snapshot(world.t.dataDir);
        const res = await world.fetch(req('GET', path, { token: world.admin.token })());
        if (res.status === 200) {
          const { events } = (await res.json()) as { events: unknown[] };
          const limit = Number(new URLSearchParams(query).get('limit') ?? 100);
          expect(events.length, path).toBeLessThanOrEqual(limit);
        } else {
          expect(res.status, path).toBe(400);
          await expectApiRefusal(res, path);
        }
        expectUnchanged(before, await snapshot(world.t.dataDir), 'strict', path);
      }),
      RUNS,
    );
  });
});

describe('a signed-in user who is not an admin', () => {
  it('is refused with 403 on every admin endpoint and changes nothing', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/admin/policy'],
      [
        'PUT',
        '/api/admin/policy',
        { mfaUsage: 'skipped', backupCodes: { enabled: false, count: 1, warnWhenRemaining: 0 } },
      ],
      ['GET', '/api/admin/users'],
      ['POST', '/api/admin/users', { username: 'mallory', password: 'mallory-password', role: 'admin' }],
      ['PATCH', `/api/admin/users/${world.alice.id}`, { role: 'admin' }],
      ['DELETE', `/api/admin/users/${world.admin.id}`],
      ['DELETE', `/api/admin/users/${world.bob.id}/backup-codes`],
      ['POST', `/api/admin/users/${world.bob.id}/unlock`],
      ['GET', '/api/admin/audit?limit=5'],
    ];
    for (const [method, path, body] of routes) {
      const refused = await expectRefusedAndUnchanged(
        world,
        req(method, path, { token: world.alice.token, body }),
        'strict',
        `${method} ${path}`,
      );
      expect(refused).toEqual({ status: 403, code: 'forbidden' });
    }
  });
});
