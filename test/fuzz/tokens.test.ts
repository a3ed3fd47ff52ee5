/**
 * Bearer tokens: missing, malformed and forged ones are refused everywhere and change nothing; the
 * tokens the server hands out are 256-bit base64url, kept on disk only as a hash, and die at logout
 * and when their user is deleted. (Expiry of sessions is in test/server/api.test.ts; expiry and
 * single use of mfaTokens in attempts.test.ts.)
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/crypto/totp';
import { oddString } from './inputs';
import { buildWorld, expectRefusedAndUnchanged, mfaTokenFor, snapshot, type World } from './world';

let world: World;

beforeAll(async () => {
  world = await buildWorld();
});
afterAll(async () => {
  await world.t.close();
});

const AUTHENTICATED: [string, string, unknown?][] = [
  ['GET', '/api/me'],
  ['GET', '/api/me/events'],
  ['POST', '/api/me/backup-codes', { password: 'alice-password' }],
  ['POST', '/api/auth/logout'],
  ['GET', '/api/admin/policy'],
  [
    'PUT',
    '/api/admin/policy',
    { mfaUsage: 'skipped', backupCodes: { enabled: false, count: 1, warnWhenRemaining: 0 } },
  ],
  ['GET', '/api/admin/users'],
  ['POST', '/api/admin/users', { username: 'mallory', password: 'mallory-password', role: 'admin' }],
  ['GET', '/api/admin/audit'],
];

/** A header value a client can actually send (Latin-1, no line breaks). */
const sendable = (value: string) => !/[^\u0020-\u007e\u0080-\u00ff\t]/.test(value);

const forgedAuthorization: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null),
  fc
    .uint8Array({ minLength: 32, maxLength: 32 })
    .map((b) => `Bearer ${Buffer.from(b).toString('base64url')}`),
  fc.uint8Array({ minLength: 1, maxLength: 96 }).map((b) => `Bearer ${Buffer.from(b).toString('base64url')}`),
  oddString.filter(sendable).map((s) => `Bearer ${s}`),
  oddString.filter(sendable),
  fc.constantFrom(
    'Bearer',
    'Bearer ',
    'Basic YWRtaW46YWRtaW4tcGFzc3dvcmQ=',
    'Bearer a b',
    `Bearer ${'A'.repeat(129)}`,
  ),
);

describe('forged and malformed bearer tokens', () => {
  it('are refused with 401 unauthorized on every authenticated endpoint, changing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...AUTHENTICATED),
        forgedAuthorization,
        async ([method, path, body], auth) => {
          const request = () => {
            const headers: Record<string, string> = {};
            if (auth !== null) headers.authorization = auth;
            if (body !== undefined) headers['content-type'] = 'application/json';
            return new Request(`http://localhost${path}`, {
              method,
              headers,
              body: body === undefined ? undefined : JSON.stringify(body),
            });
          };
          const refused = await expectRefusedAndUnchanged(
            world,
            request,
            'strict',
            `${method} ${path} ${auth}`,
          );
          expect(refused).toEqual({ status: 401, code: 'unauthorized' });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a real token altered by one character, or in a cookie instead of the header, is refused', async () => {
    const real = world.alice.token;
    const altered = [
      `${real.slice(0, -1)}${real.endsWith('A') ? 'B' : 'A'}`,
      real.slice(1),
      `${real}A`,
      real.toUpperCase() === real ? real.toLowerCase() : real.toUpperCase(),
    ];
    for (const token of altered) {
      const refused = await expectRefusedAndUnchanged(
        world,
        () => new Request('http://localhost/api/me', { headers: { authorization: `Bearer ${token}` } }),
        'strict',
        token,
      );
      expect(refused.status).toBe(401);
    }
    const inCookie = await expectRefusedAndUnchanged(
      world,
      () => new Request('http://localhost/api/me', { headers: { cookie: `sparekey_session=${real}` } }),
      'strict',
      'token in a cookie',
    );
    expect(inCookie.status).toBe(401);
  });
});

/** Everything in the data directory, as one string, to search for secrets. */
async function everythingOnDisk(): Promise<string> {
  return [...(await snapshot(world.t.dataDir)).values()].join('\n');
}

async function api(method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await world.fetch(
    new Request(`http://localhost${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
  // biome-ignore lint/suspicious/noExplicitAny: tests read fields of known responses.
  return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
}

describe('the tokens the server hands out', () => {
  it('are 256 random bits in base64url (43 characters), all different, and never stored as such', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 20; i++) {
      const session = await api('POST', '/api/auth/login', {
        username: 'admin',
        password: world.admin.password,
      });
      tokens.push(session.body.token);
      tokens.push(await mfaTokenFor(world, 'alice', world.alice.password));
      tokens.push(await mfaTokenFor(world, 'bob', world.bob.password));
    }
    world.t.clock.advance(30_000);
    const challenge = await mfaTokenFor(world, 'alice', world.alice.password);
    const viaMfa = await api('POST', '/api/auth/mfa', {
      mfaToken: challenge,
      method: 'totp',
      code: currentTotp(world.alice.secret, world.t.clock.now()),
    });
    tokens.push(viaMfa.body.token);

    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
    expect(new Set(tokens).size).toBe(tokens.length);

    const disk = await everythingOnDisk();
    for (const token of tokens) {
      // Neither the token nor its bytes in another common encoding: only its SHA-256 is kept.
      expect(disk.includes(token)).toBe(false);
      expect(disk.includes(Buffer.from(token, 'base64url').toString('hex'))).toBe(false);
      expect(disk.includes(Buffer.from(token, 'base64url').toString('base64'))).toBe(false);
    }
    // Token files are named by a hash, never by anything a client sent.
    const names = await readdir(join(world.t.dataDir, 'tokens'));
    for (const name of names) expect(name).toMatch(/^[0-9a-f]{64}\.json$/);
  });

  it('die at logout: the session file goes, and the token is refused from then on', async () => {
    const token = (
      await api('POST', '/api/auth/login', { username: 'admin', password: world.admin.password })
    ).body.token as string;
    const before = await readdir(join(world.t.dataDir, 'tokens'));
    expect((await api('POST', '/api/auth/logout', undefined, token)).status).toBe(204);
    const after = await readdir(join(world.t.dataDir, 'tokens'));
    expect(before.filter((name) => !after.includes(name))).toHaveLength(1);
    expect((await api('GET', '/api/me', undefined, token)).status).toBe(401);
    expect((await api('POST', '/api/auth/logout', undefined, token)).status).toBe(401);
  });

  it('die with their user: sessions and pending challenges, with no file left behind', async () => {
    const admin = world.admin.token;
    const created = await api(
      'POST',
      '/api/admin/users',
      { username: 'carol', password: 'carol-password' },
      admin,
    );
    const carolId = created.body.user.id as string;
    await api('PATCH', `/api/admin/users/${carolId}`, { mfa: { type: 'totp', configureLater: true } }, admin);
    const challenge = await mfaTokenFor(world, 'carol', 'carol-password');
    await api('PATCH', `/api/admin/users/${carolId}`, { mfa: { type: 'none' } }, admin);
    // A reset of the MFA ends the sign-ins begun under the old setting, too.
    expect(
      (await api('POST', '/api/auth/enroll', { mfaToken: challenge, code: '123456' })).body.error.code,
    ).toBe('invalid_mfa_token');
    const sessions = await Promise.all(
      [1, 2, 3].map(
        async () =>
          (await api('POST', '/api/auth/login', { username: 'carol', password: 'carol-password' })).body
            .token,
      ),
    );
    const tokenFiles = async () =>
      Promise.all(
        (await readdir(join(world.t.dataDir, 'tokens'))).map((name) =>
          readFile(join(world.t.dataDir, 'tokens', name), 'utf8'),
        ),
      );
    expect((await tokenFiles()).filter((text) => text.includes(carolId))).toHaveLength(3);

    expect((await api('DELETE', `/api/admin/users/${carolId}`, undefined, admin)).status).toBe(204);
    for (const token of sessions) expect((await api('GET', '/api/me', undefined, token)).status).toBe(401);
    expect((await tokenFiles()).filter((text) => text.includes(carolId))).toEqual([]);
    expect(
      (await api('POST', '/api/auth/login', { username: 'carol', password: 'carol-password' })).status,
    ).toBe(401);
  });
});
