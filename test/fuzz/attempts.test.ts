/**
 * Well-formed attempts with wrong secrets, from many client addresses: wrong passwords, wrong TOTP
 * and backup codes in every odd spelling, forged, expired and spent mfaTokens. Each is refused with
 * the generic error and the error shape, and changes only what a failed attempt must record (the
 * "attempt" rule of world.ts); a forged or dead token changes nothing at all.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp, verifyTotp } from '../../server/crypto/totp';
import { normalizeCode } from '../../shared/codes';
import { address, oddString } from './inputs';
import {
  buildWorld,
  expectApiRefusal,
  expectRefusedAndUnchanged,
  expectUnchanged,
  mfaTokenFor,
  snapshot,
  type World,
} from './world';

let world: World;
let aliceChallenge: string;
let bobChallenge: string;

const RUNS = { numRuns: 100 };

function post(path: string, body: unknown, ip?: string) {
  return () =>
    new Request(new URL(path, 'http://localhost'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(ip ? { 'x-forwarded-for': ip } : {}) },
      body: JSON.stringify(body),
    });
}

/** Strings the schema takes as a password or code (1..max characters), however odd. */
const given = (max: number) => oddString.filter((s) => s.length >= 1 && s.length <= max);

/** Would this be accepted as one of alice's codes? (Then it is not a wrong attempt.) */
async function isRightForAlice(code: string): Promise<boolean> {
  const canonical = normalizeCode(code);
  if (canonical && world.alice.codes.some((c) => normalizeCode(c) === canonical)) return true;
  const user = await world.t.deps.store.getUser(world.alice.id);
  return verifyTotp(world.alice.secret, code, world.t.clock.now(), user?.mfa.lastStep ?? null) !== null;
}

beforeAll(async () => {
  world = await buildWorld();
  aliceChallenge = await mfaTokenFor(world, 'alice', world.alice.password);
  bobChallenge = await mfaTokenFor(world, 'bob', world.bob.password);
});
afterAll(async () => {
  await world.t.close();
});

describe('wrong secrets', () => {
  it('a wrong password, for any name, is invalid_credentials and records only the failure', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom('admin', 'alice', 'ALICE', 'bob'), given(64)),
        given(1024),
        address,
        async (username, password, ip) => {
          fc.pre(![world.admin.password, world.alice.password, world.bob.password].includes(password));
          const refused = await expectRefusedAndUnchanged(
            world,
            post('/api/auth/login', { username, password }, ip),
            'attempt',
            `login ${username}`,
          );
          expect(refused).toEqual({ status: 401, code: 'invalid_credentials' });
        },
      ),
      RUNS,
    );
  });

  it('a wrong TOTP or backup code, in any spelling, is invalid_code; the challenge survives it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('totp', 'backup_code'),
        fc.oneof(
          given(64),
          fc.stringMatching(/^\d{6}$/),
          fc.stringMatching(/^[0-9A-Za-z]{5}-?[0-9A-Za-z]{5}$/),
        ),
        address,
        async (method, code, ip) => {
          fc.pre(!(await isRightForAlice(code)));
          const refused = await expectRefusedAndUnchanged(
            world,
            post('/api/auth/mfa', { mfaToken: aliceChallenge, method, code }, ip),
            'attempt',
            `mfa ${method} ${code}`,
          );
          expect(refused).toEqual({ status: 401, code: 'invalid_code' });
        },
      ),
      RUNS,
    );
    // Wrong codes do not end the sign-in: the right one still completes it.
    const ok = await world.fetch(
      post('/api/auth/mfa', {
        mfaToken: aliceChallenge,
        method: 'backup_code',
        code: world.alice.codes[0],
      })(),
    );
    expect(ok.status).toBe(200);
  });

  it('a wrong first code at enrolment is invalid_code and enrols nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(given(64), fc.stringMatching(/^\d{6}$/)), address, async (code, ip) => {
        const refused = await expectRefusedAndUnchanged(
          world,
          post('/api/auth/enroll', { mfaToken: bobChallenge, code }, ip),
          'attempt',
          `enroll ${code}`,
        );
        // A random 6-digit guess cannot know the pending secret: it was never given to the fuzzer.
        expect(refused).toEqual({ status: 401, code: 'invalid_code' });
      }),
      RUNS,
    );
    const bob = await world.t.deps.store.getUser(world.bob.id);
    expect(bob?.mfa).toMatchObject({ enrolled: false, secret: null });
  });

  it('a wrong password when generating codes is invalid_credentials and keeps the old set', async () => {
    await fc.assert(
      fc.asyncProperty(given(1024), address, async (password, ip) => {
        fc.pre(password !== world.alice.password);
        const request = () => {
          const r = post('/api/me/backup-codes', { password }, ip)();
          r.headers.set('authorization', `Bearer ${world.alice.token}`);
          return r;
        };
        const refused = await expectRefusedAndUnchanged(world, request, 'attempt', 'generate');
        expect(refused).toEqual({ status: 401, code: 'invalid_credentials' });
      }),
      { numRuns: 50 },
    );
  });
});

describe('mfaTokens that are not live', () => {
  it('a forged token of any shape is refused and changes nothing at all', async () => {
    const forged = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')),
      fc.string({ minLength: 1, maxLength: 128 }),
      fc.constantFrom('../policy', '..%2F..%2Findex', 'a'.repeat(128), '.', '..'),
    );
    await fc.assert(
      fc.asyncProperty(forged, fc.constantFrom('mfa', 'enroll'), async (mfaToken, endpoint) => {
        const body =
          endpoint === 'mfa' ? { mfaToken, method: 'totp', code: '123456' } : { mfaToken, code: '123456' };
        const refused = await expectRefusedAndUnchanged(
          world,
          post(`/api/auth/${endpoint}`, body),
          'strict',
          `${endpoint} ${mfaToken}`,
        );
        expect(refused).toEqual({ status: 401, code: 'invalid_mfa_token' });
      }),
      RUNS,
    );
  });

  it('a challenge used for the wrong step is refused and changes nothing', async () => {
    const alice = await mfaTokenFor(world, 'alice', world.alice.password);
    const asEnrolment = await expectRefusedAndUnchanged(
      world,
      post('/api/auth/enroll', { mfaToken: alice, code: '123456' }),
      'strict',
      'enroll with a verify challenge',
    );
    expect(asEnrolment).toEqual({ status: 400, code: 'enrollment_not_pending' });
    const bob = await mfaTokenFor(world, 'bob', world.bob.password);
    const asVerify = await expectRefusedAndUnchanged(
      world,
      post('/api/auth/mfa', { mfaToken: bob, method: 'backup_code', code: 'AAAAA-AAAAA' }),
      'strict',
      'verify with an enrolment challenge',
    );
    expect(asVerify).toEqual({ status: 400, code: 'enrollment_required' });
  });

  it('a challenge dies at its first success: reusing it is refused and changes nothing', async () => {
    const mfaToken = await mfaTokenFor(world, 'alice', world.alice.password);
    world.t.clock.advance(30_000);
    const first = await world.fetch(
      post('/api/auth/mfa', {
        mfaToken,
        method: 'totp',
        code: currentTotp(world.alice.secret, world.t.clock.now()),
      })(),
    );
    expect(first.status).toBe(200);
    world.t.clock.advance(30_000);
    const attempts = [
      { mfaToken, method: 'totp', code: currentTotp(world.alice.secret, world.t.clock.now()) },
      { mfaToken, method: 'backup_code', code: world.alice.codes[1] },
    ];
    for (const body of attempts) {
      const refused = await expectRefusedAndUnchanged(
        world,
        post('/api/auth/mfa', body),
        'strict',
        `reused for ${body.method}`,
      );
      expect(refused).toEqual({ status: 401, code: 'invalid_mfa_token' });
    }
  });

  it('a challenge expires after 5 minutes: a right code is refused, only its own file goes', async () => {
    const mfaToken = await mfaTokenFor(world, 'alice', world.alice.password);
    world.t.clock.advance(5 * 60_000 - 1);
    // Still alive a millisecond before: a wrong code is judged as a code.
    const alive = await world.fetch(
      post('/api/auth/mfa', { mfaToken, method: 'backup_code', code: 'AAAAA-AAAAA' })(),
    );
    expect((await alive.json()).error.code).toBe('invalid_code');
    world.t.clock.advance(1);
    const before = await snapshot(world.t.dataDir);
    const res = await world.fetch(
      post('/api/auth/mfa', { mfaToken, method: 'backup_code', code: world.alice.codes[2] })(),
    );
    expect(res.status).toBe(401);
    expect((await expectApiRefusal(res, 'expired')).code).toBe('invalid_mfa_token');
    const after = await snapshot(world.t.dataDir);
    // Reading an expired challenge deletes it (lazy pruning); nothing else may change: the code is not spent.
    const gone = [...before.keys()].filter((path) => !after.has(path));
    expect(gone).toHaveLength(1);
    expect(gone[0]).toMatch(/^tokens\//);
    after.set(gone[0] as string, before.get(gone[0] as string) as string);
    expectUnchanged(before, after, 'strict', 'expired challenge');
  });
});
