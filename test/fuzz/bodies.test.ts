/**
 * Every JSON endpoint that takes a body, fed arbitrary JSON, wrong types, unknown and prototype keys,
 * odd Unicode, deep nesting, huge bodies and text that is not JSON: never a 5xx, always the error
 * shape, and the data directory byte for byte unchanged (strict, see world.ts) by every body the
 * schema refuses. Well-formed attempts with wrong secrets are in attempts.test.ts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { MAX_BODY_BYTES } from '../../server/app';
import {
  ChangePasswordRequest,
  CreateUserRequest,
  EnrollRequest,
  GenerateCodesRequest,
  LoginRequest,
  MfaRequest,
  Policy,
  ResetPasswordRequest,
  UpdateUserRequest,
} from '../../shared/api';
import { anyValue, contentType, rawText, shapedLike } from './inputs';
import { buildWorld, expectRefusedAndUnchanged, mfaTokenFor, snapshot, type World } from './world';

let world: World;

interface Endpoint {
  method: string;
  path: () => string;
  token: () => string | null;
  schema: z.ZodType;
  fields: string[];
}

const ENDPOINTS: Record<string, Endpoint> = {
  login: {
    method: 'POST',
    path: () => '/api/auth/login',
    token: () => null,
    schema: LoginRequest,
    fields: ['username', 'password'],
  },
  mfa: {
    method: 'POST',
    path: () => '/api/auth/mfa',
    token: () => null,
    schema: MfaRequest,
    fields: ['mfaToken', 'method', 'code'],
  },
  enroll: {
    method: 'POST',
    path: () => '/api/auth/enroll',
    token: () => null,
    schema: EnrollRequest,
    fields: ['mfaToken', 'code'],
  },
  generateCodes: {
    method: 'POST',
    path: () => '/api/me/backup-codes',
    token: () => world.alice.token,
    schema: GenerateCodesRequest,
    fields: ['password'],
  },
  changePassword: {
    method: 'POST',
    path: () => '/api/me/password',
    token: () => world.alice.token,
    schema: ChangePasswordRequest,
    fields: ['currentPassword', 'newPassword'],
  },
  putPolicy: {
    method: 'PUT',
    path: () => '/api/admin/policy',
    token: () => world.admin.token,
    schema: Policy,
    fields: ['mfaUsage', 'backupCodes'],
  },
  createUser: {
    method: 'POST',
    path: () => '/api/admin/users',
    token: () => world.admin.token,
    schema: CreateUserRequest,
    fields: ['username', 'password', 'role'],
  },
  updateUser: {
    method: 'PATCH',
    path: () => `/api/admin/users/${world.alice.id}`,
    token: () => world.admin.token,
    schema: UpdateUserRequest,
    fields: ['role', 'mfa'],
  },
  resetPassword: {
    method: 'POST',
    path: () => `/api/admin/users/${world.alice.id}/password`,
    token: () => world.admin.token,
    schema: ResetPasswordRequest,
    fields: ['password'],
  },
};

/** Sometimes a live challenge in place of the fuzzed token, so the rest of the body is what is judged. */
let liveChallenges: string[] = [];

function request(endpoint: Endpoint, body: string | null, type: string | null) {
  return () => {
    const headers: Record<string, string> = {};
    if (type) headers['content-type'] = type;
    const token = endpoint.token();
    if (token) headers.authorization = `Bearer ${token}`;
    return new Request(new URL(endpoint.path(), 'http://localhost'), {
      method: endpoint.method,
      headers,
      body: body ?? undefined,
    });
  };
}

function schemaAccepts(endpoint: Endpoint, text: string): boolean {
  try {
    // As the Fetch standard's body.json() does, a leading byte order mark is not part of the JSON.
    return endpoint.schema.safeParse(JSON.parse(text.replace(/^\ufeff/, ''))).success;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  world = await buildWorld();
  liveChallenges = [
    await mfaTokenFor(world, 'alice', world.alice.password),
    await mfaTokenFor(world, 'bob', world.bob.password),
  ];
});
afterAll(async () => {
  await world.t.close();
});

const RUNS = { numRuns: 100 };

describe.each(Object.entries(ENDPOINTS))('%s', (name, endpoint) => {
  it('refuses any JSON value the schema refuses, with 400 and the error shape, changing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyValue, shapedLike(endpoint.fields)), fc.nat(9), async (value, pick) => {
        const body = value as Record<string, unknown>;
        if (body && typeof body === 'object' && 'mfaToken' in body && pick < liveChallenges.length) {
          body.mfaToken = liveChallenges[pick];
        }
        const text = JSON.stringify(body) ?? 'null';
        fc.pre(!schemaAccepts(endpoint, text));
        const what = `${name} ${text.slice(0, 200)}`;
        const { status, code } = await expectRefusedAndUnchanged(
          world,
          request(endpoint, text, 'application/json'),
          'strict',
          what,
        );
        if (text.length <= MAX_BODY_BYTES) expect([status, code], what).toEqual([400, 'invalid_request']);
        else expect([status, code], what).toEqual([413, 'payload_too_large']);
      }),
      RUNS,
    );
  });

  it('refuses text that is not a JSON body, or is sent as another type, changing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(rawText, contentType, async (text, type) => {
        fc.pre(!(schemaAccepts(endpoint, text) && type?.toLowerCase().startsWith('application/json')));
        await expectRefusedAndUnchanged(
          world,
          request(endpoint, text, type),
          'strict',
          `${name} ${type} ${text.slice(0, 80)}`,
        );
      }),
      RUNS,
    );
  });

  it('refuses a body over the limit with 413, whether it declares its length or streams it', async () => {
    const huge = JSON.stringify({ [endpoint.fields[0] ?? 'x']: 'x'.repeat(MAX_BODY_BYTES) });
    const declared = await expectRefusedAndUnchanged(
      world,
      request(endpoint, huge, 'application/json'),
      'strict',
      `${name} huge`,
    );
    expect(declared).toEqual({ status: 413, code: 'payload_too_large' });

    const streamed = await expectRefusedAndUnchanged(
      world,
      () => {
        const base = request(endpoint, null, 'application/json')();
        const chunk = new TextEncoder().encode('['.repeat(4096));
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            // 64 KiB in 4 KiB chunks with no Content-Length: the limit must count as it reads.
            if (sent++ < 16) controller.enqueue(chunk);
            else controller.close();
          },
        });
        return new Request(base, { body, duplex: 'half' } as RequestInit);
      },
      'strict',
      `${name} streamed`,
    );
    expect(streamed).toEqual({ status: 413, code: 'payload_too_large' });
  });
});

describe('the refusals above were refusals of the body, not of the caller', () => {
  it('a well-formed body still works afterwards on every endpoint, so the world was intact', async () => {
    const before = await snapshot(world.t.dataDir);
    expect(before.size).toBeGreaterThan(5);
    const res = await world.fetch(
      new Request('http://localhost/api/me', { headers: { authorization: `Bearer ${world.alice.token}` } }),
    );
    expect(res.status).toBe(200);
    const me = (await res.json()) as { backupCodes: { remaining: number; total: number } };
    expect(me.backupCodes).toMatchObject({ total: 10, remaining: 10 });
    expect(world.unhandled).toEqual([]);
  });
});
