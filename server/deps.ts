/** What the app is built from: tests pass fakes (clock, fast hasher) or the real parts. */
import type { SecurityConfig } from './config';
import type { Hasher } from './crypto/hasher';
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
