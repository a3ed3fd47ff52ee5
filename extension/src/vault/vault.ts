/**
 * The kept backup codes: sealed in storage.local under a passphrase, opened by a key that lives only in
 * storage.session and is dropped after an idle time. Every context (popup, background) builds its own
 * Vault on the same storage, so all state is read from storage on each call rather than cached.
 */
import { formatCode, normalizeCode } from '../../../shared/codes';
import { deriveKeyBytes, open, PBKDF2_ITERATIONS, randomSalt, seal } from './crypto';
import { fromBase64, toBase64 } from './encoding';
import {
  IDLE_KEY,
  parseRecord,
  parseSessionKey,
  RECORD_KEY,
  SESSION_KEY,
  type SessionKey,
  sealContext,
  type VaultRecord,
} from './record';

export const VAULT_IDLE_ALARM = 'sparekey-vault-idle';
export const DEFAULT_IDLE_MINUTES = 15;
export const MAX_IDLE_MINUTES = 24 * 60;
/** NIST SP 800-63B's floor for memorised secrets; the KDF does the rest. */
export const MIN_PASSPHRASE_LENGTH = 8;
const MAX_PASSPHRASE_LENGTH = 1024;

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
  /** browser.storage.session: the unlocked key, in memory only. */
  session: KeyValueArea;
  alarms: AlarmScheduler;
  now: () => number;
}

export interface KeptCode {
  number: number;
  code: string;
}

export interface VaultOwner {
  /** The sync server's URL; only its origin is kept. */
  server: string;
  username: string;
  /** GeneratedCodes.generatedAt: tells a later sync whether the server still has this set. */
  generatedAt?: string | null;
}

export type VaultStatus =
  | { state: 'empty'; idleMinutes: number }
  | {
      state: 'locked' | 'unlocked';
      server: string;
      username: string;
      generatedAt: string | null;
      total: number;
      /** Kept codes the server has not reported as used; 0 when the set is stale. */
      remaining: number;
      used: number[];
      /** The number the next fill would hand out, or null when none is left. */
      next: number | null;
      stale: boolean;
      /** A code was handed to a page since the last sync: the server may have spent it. */
      awaitingSync: boolean;
      idleMinutes: number;
      /** When the key will be dropped if nothing uses it (ms since epoch), while unlocked. */
      lockAt: number | null;
    };

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

export interface Vault {
  keep(codes: KeptCode[], passphrase: string, owner: VaultOwner): Promise<KeepResult>;
  unlock(passphrase: string): Promise<UnlockResult>;
  lock(): Promise<void>;
  status(): Promise<VaultStatus>;
  forget(): Promise<void>;
  /**
   * Hands out the lowest-numbered unused code for `server` and notes it as handed out; with `username`,
   * only when the kept set is that user's (checked in the same step, so a set kept meanwhile cannot slip in).
   */
  takeNext(server: string, username?: string): Promise<TakeResult>;
  /** Syncs with GET /api/me's backupCodes; false when it is not about the kept set's server and user. */
  applyServerStatus(server: string, username: string, status: ServerCodeStatus): Promise<boolean>;
  getIdleMinutes(): Promise<number>;
  setIdleMinutes(minutes: number): Promise<void>;
  /** For the idle alarm: drops the key if it has not been used for the idle time. */
  lockIfIdle(): Promise<boolean>;
}

export function originOf(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

/** Usernames are unique regardless of case on the server (its store keys them in lower case). */
export function sameUsername(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

const sorted = (numbers: Iterable<number>) => [...new Set(numbers)].sort((a, b) => a - b);

/** Unspent numbers first that were not handed out yet; a handed-out one only when nothing else is left. */
function nextNumber(record: VaultRecord): number | null {
  if (record.stale) return null;
  const unspent = record.numbers.filter((n) => !record.spent.includes(n)).sort((a, b) => a - b);
  return unspent.find((n) => !record.pending.includes(n)) ?? unspent[0] ?? null;
}

function remainingOf(record: VaultRecord): number {
  return record.stale ? 0 : record.numbers.filter((n) => !record.spent.includes(n)).length;
}

export function createVault(deps: VaultDeps): Vault {
  // Serialises this context's calls: two quick fills must never both take the same number.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };

  async function readRecord(): Promise<VaultRecord | null> {
    return parseRecord((await deps.local.get(RECORD_KEY))[RECORD_KEY]);
  }

  async function idleMinutes(): Promise<number> {
    const value = (await deps.local.get(IDLE_KEY))[IDLE_KEY];
    return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_IDLE_MINUTES
      ? value
      : DEFAULT_IDLE_MINUTES;
  }

  async function dropKey(): Promise<void> {
    await deps.session.remove(SESSION_KEY);
    await deps.alarms.clear(VAULT_IDLE_ALARM);
  }

  /** The live key for `record`, or null: missing, from another set, or idle too long (then dropped). */
  async function liveKey(record: VaultRecord): Promise<SessionKey | null> {
    const key = parseSessionKey((await deps.session.get(SESSION_KEY))[SESSION_KEY]);
    if (!key || key.salt !== record.kdf.salt) return null;
    if (deps.now() - key.lastActive >= (await idleMinutes()) * 60_000) {
      await dropKey();
      return null;
    }
    return key;
  }

  async function storeKey(keyBytes: Uint8Array, salt: string): Promise<void> {
    const lastActive = deps.now();
    const key: SessionKey = { key: toBase64(keyBytes), salt, lastActive };
    await deps.session.set({ [SESSION_KEY]: key });
    await deps.alarms.create(VAULT_IDLE_ALARM, { when: lastActive + (await idleMinutes()) * 60_000 });
  }

  async function statusOf(record: VaultRecord | null): Promise<VaultStatus> {
    const minutes = await idleMinutes();
    if (!record) return { state: 'empty', idleMinutes: minutes };
    const key = await liveKey(record);
    return {
      state: key ? 'unlocked' : 'locked',
      server: record.server,
      username: record.username,
      generatedAt: record.generatedAt,
      total: record.numbers.length,
      remaining: remainingOf(record),
      used: sorted(record.spent),
      next: nextNumber(record),
      stale: record.stale,
      awaitingSync: record.pending.length > 0,
      idleMinutes: minutes,
      lockAt: key ? key.lastActive + minutes * 60_000 : null,
    };
  }

  async function decryptCodes(record: VaultRecord, keyBytes: Uint8Array<ArrayBuffer>) {
    const plain = await open(
      keyBytes,
      { iv: fromBase64(record.cipher.iv), data: fromBase64(record.cipher.data) },
      sealContext(record),
    );
    return plain === null ? null : new Map<number, string>(JSON.parse(plain) as [number, string][]);
  }

  return {
    keep: (codes, passphrase, owner) =>
      exclusive(async () => {
        if (passphrase.length < MIN_PASSPHRASE_LENGTH || passphrase.length > MAX_PASSPHRASE_LENGTH) {
          return { ok: false, reason: 'weak_passphrase' };
        }
        const server = originOf(owner.server);
        const canonical = codes.map((c) => [c.number, normalizeCode(c.code)] as const);
        const numbers = canonical.map(([n]) => n);
        const valid =
          server !== null &&
          owner.username.length > 0 &&
          codes.length > 0 &&
          new Set(numbers).size === numbers.length &&
          canonical.every(([n, code]) => Number.isInteger(n) && n > 0 && code !== null);
        if (!valid) return { ok: false, reason: 'invalid_codes' };

        // A fresh salt per set: the new key shares nothing with the replaced one.
        const salt = randomSalt();
        const keyBytes = await deriveKeyBytes(passphrase, salt, PBKDF2_ITERATIONS);
        const owned = { server, username: owner.username, generatedAt: owner.generatedAt ?? null, numbers };
        const sealed = await seal(keyBytes, JSON.stringify(canonical), sealContext(owned));
        const record: VaultRecord = {
          v: 1,
          ...owned,
          spent: [],
          pending: [],
          stale: false,
          kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: PBKDF2_ITERATIONS, salt: toBase64(salt) },
          cipher: { name: 'AES-GCM', iv: toBase64(sealed.iv), data: toBase64(sealed.data) },
        };
        await deps.local.set({ [RECORD_KEY]: record });
        await storeKey(keyBytes, record.kdf.salt);
        return { ok: true, status: await statusOf(record) };
      }),

    unlock: (passphrase) =>
      exclusive(async () => {
        const record = await readRecord();
        if (!record) return { ok: false, reason: 'empty' };
        const keyBytes = await deriveKeyBytes(passphrase, fromBase64(record.kdf.salt), record.kdf.iterations);
        // Decrypting is the passphrase check: no verifier is stored that could be attacked apart from the data.
        if ((await decryptCodes(record, keyBytes)) === null) return { ok: false, reason: 'wrong_passphrase' };
        await storeKey(keyBytes, record.kdf.salt);
        return { ok: true, status: await statusOf(record) };
      }),

    lock: () => exclusive(dropKey),

    status: () => exclusive(async () => statusOf(await readRecord())),

    forget: () =>
      exclusive(async () => {
        await deps.local.remove(RECORD_KEY);
        await dropKey();
      }),

    takeNext: (server, username) =>
      exclusive(async () => {
        const record = await readRecord();
        if (!record) return { ok: false, reason: 'empty' };
        if (originOf(server) !== record.server) return { ok: false, reason: 'other_server' };
        // Before the lock check: another user's sign-in must not even open the unlock popup.
        if (username !== undefined && !sameUsername(username, record.username)) {
          return { ok: false, reason: 'other_user', owner: record.username };
        }
        const next = nextNumber(record);
        if (next === null) return { ok: false, reason: 'none_left' };
        const key = await liveKey(record);
        if (!key) return { ok: false, reason: 'locked' };
        const codes = await decryptCodes(record, fromBase64(key.key));
        const code = codes?.get(next);
        if (!code) return { ok: false, reason: 'locked' };
        record.pending = sorted([...record.pending, next]);
        await deps.local.set({ [RECORD_KEY]: record });
        await storeKey(fromBase64(key.key), key.salt);
        return { ok: true, number: next, code: formatCode(code), remaining: remainingOf(record) };
      }),

    applyServerStatus: (server, username, status) =>
      exclusive(async () => {
        const record = await readRecord();
        if (!record || originOf(server) !== record.server || username !== record.username) return false;
        const replaced =
          status.total === 0 ||
          (record.generatedAt !== null &&
            status.generatedAt !== null &&
            status.generatedAt !== record.generatedAt);
        record.stale = record.stale || replaced;
        record.spent = sorted([...record.spent, ...status.used.filter((n) => record.numbers.includes(n))]);
        // The server is the truth now: a handed-out code it does not list as used is still good.
        record.pending = [];
        await deps.local.set({ [RECORD_KEY]: record });
        return true;
      }),

    getIdleMinutes: idleMinutes,

    setIdleMinutes: (minutes) =>
      exclusive(async () => {
        if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_IDLE_MINUTES) {
          throw new RangeError(`Idle time must be a whole number of minutes from 1 to ${MAX_IDLE_MINUTES}.`);
        }
        await deps.local.set({ [IDLE_KEY]: minutes });
        const record = await readRecord();
        const key = record && (await liveKey(record));
        if (key) {
          await deps.alarms.create(VAULT_IDLE_ALARM, { when: key.lastActive + minutes * 60_000 });
        }
      }),

    lockIfIdle: () =>
      exclusive(async () => {
        const record = await readRecord();
        if (record && (await liveKey(record))) return false;
        await dropKey();
        return true;
      }),
  };
}
