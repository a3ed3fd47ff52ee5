/** The vault's types: what it is built from, what it keeps, and what it answers. */
import type { OwnUse } from './own-uses';

/** The slice of browser.storage.StorageArea the vault uses, so tests can pass an in-memory one. */
export interface KeyValueArea {
  get(key: string): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
  remove(key: string): Promise<void>;
}

export interface AlarmScheduler {
  create(name: string, info: { when: number }): Promise<void> | void;
  clear(name: string): Promise<boolean> | Promise<void> | void;
}

export interface VaultDeps {
  /** browser.storage.local: only sealed data goes here. */
  local: KeyValueArea;
  /** browser.storage.session: the unlocked keys, in memory only. */
  session: KeyValueArea;
  alarms: AlarmScheduler;
  now: () => number;
}

export interface KeptCode {
  number: number;
  code: string;
}

/**
 * Who a set is for, or who is signing in: a server and a user. The user id decides when both sides
 * know it; a username alone (a page that gives no id, a set kept before ids were recorded) otherwise.
 */
export interface Account {
  server: string;
  username: string;
  userId?: string | null;
}

/** Who a page or a sign-in says is signing in; a page may say nothing. */
export interface SigningIn {
  username?: string;
  userId?: string;
}

export interface VaultOwner extends Account {
  /** GeneratedCodes.generatedAt: tells a later sync whether the server still has this set. */
  generatedAt?: string | null;
}

export interface KeptSet {
  state: 'locked' | 'unlocked';
  server: string;
  username: string;
  userId: string | null;
  generatedAt: string | null;
  total: number;
  /** Kept codes neither spent nor filled by this browser; 0 when the set is stale. */
  remaining: number;
  used: number[];
  /** The number the next fill would hand out, or null when none is left. */
  next: number | null;
  stale: boolean;
  /** Numbers the server reported as used that this browser did not fill. */
  usedElsewhere: number[];
  /** A code was filled since the last sync: the server will say whether it was spent. */
  awaitingSync: boolean;
  idleMinutes: number;
  /** When the key will be dropped if nothing uses it (ms since epoch), while unlocked. */
  lockAt: number | null;
}

export type VaultStatus = { state: 'empty'; idleMinutes: number } | KeptSet;

/** The set of the user signing in on a server, if this browser keeps it; else who it keeps sets for. */
export type SetFor =
  | { state: 'empty' }
  /** Sets are kept for this server, but for `owner`, not the user signing in. */
  | { state: 'other_user'; owner: string }
  | KeptSet;

export type KeepResult =
  | { ok: true; status: VaultStatus }
  | { ok: false; reason: 'weak_passphrase' | 'invalid_codes' };
export type UnlockResult =
  | { ok: true; status: VaultStatus }
  | { ok: false; reason: 'wrong_passphrase' | 'empty' };
export type TakeResult =
  | { ok: true; number: number; code: string; remaining: number }
  | { ok: false; reason: 'empty' | 'other_server' | 'locked' | 'none_left' }
  /** Kept for `owner`, not for the user the caller named. */
  | { ok: false; reason: 'other_user'; owner: string };

export interface ServerCodeStatus {
  total: number;
  used: number[];
  generatedAt: string | null;
}

/** What a sync with the server found that the user should hear about. */
export interface Reconciliation {
  /** Numbers the server reports as used that this browser never filled. */
  usedElsewhere: number[];
  /** The server has a different set, or none: the kept one is dead. */
  replaced: boolean;
}

export interface Vault {
  keep(codes: KeptCode[], passphrase: string, owner: VaultOwner): Promise<KeepResult>;
  /** Every kept set, or those of one server, in the order they were kept. */
  list(server?: string): Promise<KeptSet[]>;
  /** The set kept for the user signing in on `server` (see SigningIn). */
  setFor(server: string, who?: SigningIn): Promise<SetFor>;
  /** Opens `account`'s set with its passphrase; no server is asked. */
  unlock(account: Account, passphrase: string): Promise<UnlockResult>;
  /** Locks `account`'s set, or every set. */
  lock(account?: Account): Promise<void>;
  forget(account: Account): Promise<void>;
  /**
   * Hands out the lowest-numbered code of the set of the user signing in on `server` that is neither
   * spent nor filled, and marks it filled at once (so the next call offers the next one, offline too).
   * Without `who`, only when `server` has a single kept set.
   */
  takeNext(server: string, who?: SigningIn): Promise<TakeResult>;
  /** The server refused `number` as already used: it is spent, and was not spent by this browser. */
  markRefused(account: Account, number: number): Promise<void>;
  /** Syncs with GET /api/me; null when no set is kept for that server and user. */
  applyServerStatus(
    server: string,
    user: { id: string; username: string },
    status: ServerCodeStatus,
  ): Promise<Reconciliation | null>;
  /** Notes a sign-in of this browser with a code typed by hand (its number unknown). */
  noteOwnSignIn(account: Account): Promise<void>;
  /** The codes this browser used lately (own-uses.ts). */
  ownUses(): Promise<OwnUse[]>;
  getIdleMinutes(): Promise<number>;
  setIdleMinutes(minutes: number): Promise<void>;
  /** For the idle alarm: drops the keys not used for the idle time; true when none is left. */
  lockIfIdle(): Promise<boolean>;
}
