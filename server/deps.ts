/** What the app is built from: tests pass fakes (clock, fast hasher) or the real parts. */
import type { SecurityConfig } from './config';
import type { SignInGate } from './crypto/hash-queue';
import type { Hasher } from './crypto/hasher';
import type { Lifecycle } from './http/health';
import type { Store } from './store/types';

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface Deps {
  store: Store;
  hasher: Hasher;
  clock: Clock;
  security: SecurityConfig;
  /**
   * Lets a sign-in attempt in, or sheds it (503) when argon2id is overloaded: main.ts passes the
   * HashQueue that `hasher` runs through. Absent: every attempt is let in (tests with a fast hasher).
   */
  signInGate?: SignInGate;
  /** Starting, serving or draining, for /healthz/ready (main.ts moves it along). Absent: serving. */
  lifecycle?: Lifecycle;
  /** EXTENSION_DIR: the folder extension/pack.ts wrote, served under /extension/; absent: nothing served. */
  extensionDir?: string | null;
  /** The generated first admin's password file, deleted once that admin has chosen a password. */
  initialPassword?: { userId: string; file: string };
}

/** Who is asking, for the audit log and per-address throttling. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  /** 'host': the change comes from `npm run admin` on the server host, not over HTTP (its audit events say so). */
  via?: 'host';
}
