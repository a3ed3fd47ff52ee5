/** Fast stand-ins for unit tests of the app; the HTTP suite and the benchmark use the real argon2id. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../server/app';
import { defaultSecurityConfig, type SecurityConfig } from '../../server/config';
import type { Hasher } from '../../server/crypto/hasher';
import type { Clock, Deps } from '../../server/deps';
import { LowdbStore } from '../../server/store/lowdb';

const sha = (...parts: (string | Buffer)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Same contract as argon2Hasher, at SHA-256 speed. Counts calls so tests can check the cost of an attempt. */
export function fastHasher() {
  const calls = { codeDigest: 0, verifyPassword: 0 };
  const hasher: Hasher = {
    async hashPassword(password) {
      return `fake$${sha(password).toString('base64')}`;
    },
    async verifyPassword(hash, password) {
      calls.verifyPassword++;
      const expected = Buffer.from(`fake$${sha(password).toString('base64')}`);
      const actual = Buffer.from(hash);
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    },
    async codeDigest(code, salt) {
      calls.codeDigest++;
      return sha(salt, code);
    },
  };
  return { hasher, calls };
}

export class FakeClock implements Clock {
  constructor(public ms = Date.parse('2026-11-27T12:00:00Z')) {}
  now() {
    return this.ms;
  }
  advance(ms: number) {
    this.ms += ms;
  }
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  deps: Deps;
  clock: FakeClock;
  calls: { codeDigest: number; verifyPassword: number };
  dataDir: string;
  close(): Promise<void>;
}

/** The real app on a real lowdb store in a temp dir, with a fake clock and a fast hasher. */
export async function buildTestApp(security: Partial<SecurityConfig> = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sparekey-app-'));
  const store = new LowdbStore(dataDir);
  await store.open();
  const clock = new FakeClock();
  const { hasher, calls } = fastHasher();
  const deps: Deps = { store, hasher, clock, security: { ...defaultSecurityConfig(), ...security } };
  return {
    app: createApp(deps),
    deps,
    clock,
    calls,
    dataDir,
    async close() {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
