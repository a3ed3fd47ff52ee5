/**
 * What the vault writes to browser.storage.local and browser.storage.session, and the checks that
 * read them back: storage is shared with every extension context, so nothing read is trusted blindly.
 */
import { PBKDF2_ITERATIONS } from './crypto';

/** The kept sets, one per account (server and user). */
export const RECORDS_KEY = 'sparekey.vaults';
/** Before one set per account: a single record keyed by server and username, migrated on read. */
export const LEGACY_RECORD_KEY = 'sparekey.vault';
export const IDLE_KEY = 'sparekey.vaultIdleMinutes';
/** The unlocked keys in storage.session, by the salt of the set they open. */
export const SESSION_KEYS = 'sparekey.vaultKeys';

/** A number this browser filled, and when (ms since epoch). */
export interface Fill {
  number: number;
  at: number;
}

/** One kept set in storage.local. Numbers and their spent state are not secret; the codes are sealed. */
export interface VaultRecord {
  v: 2;
  server: string;
  /** The username when the set was kept: sealed into the ciphertext's context. */
  username: string;
  /** The server's user id; null for a set kept before ids were recorded, until a session tells it. */
  userId: string | null;
  generatedAt: string | null;
  numbers: number[];
  /** Numbers the server reported as used, or refused as already used. */
  spent: number[];
  /** Numbers this browser filled since the last sync with the server: used as far as it knows. */
  filled: Fill[];
  /** Spent numbers this browser did not fill: used somewhere else. */
  usedElsewhere: number[];
  /** The server's set changed since (regenerated or revoked): every kept code is dead. */
  stale: boolean;
  kdf: { name: 'PBKDF2'; hash: 'SHA-256'; iterations: number; salt: string };
  cipher: { name: 'AES-GCM'; iv: string; data: string };
}

/** An unlocked key in storage.session (memory only, gone when the browser closes). */
export interface SessionKey {
  key: string;
  lastActive: number;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNumberList = (value: unknown): value is number[] =>
  Array.isArray(value) && value.every((n) => Number.isInteger(n) && n > 0);
const isFillList = (value: unknown): value is Fill[] =>
  Array.isArray(value) &&
  value.every(
    (f) =>
      typeof f === 'object' &&
      f !== null &&
      Number.isInteger((f as Fill).number) &&
      (f as Fill).number > 0 &&
      typeof (f as Fill).at === 'number',
  );

/** The fields both versions share: the owner, the numbers and the sealed codes. */
function sealedPartIsValid(r: Record<string, unknown>): boolean {
  const kdf = r.kdf as Record<string, unknown> | undefined;
  const cipher = r.cipher as Record<string, unknown> | undefined;
  return (
    isString(r.server) &&
    isString(r.username) &&
    (r.generatedAt === null || isString(r.generatedAt)) &&
    isNumberList(r.numbers) &&
    isNumberList(r.spent) &&
    typeof r.stale === 'boolean' &&
    typeof kdf === 'object' &&
    kdf !== null &&
    kdf.name === 'PBKDF2' &&
    kdf.hash === 'SHA-256' &&
    // A lowered count in storage would make a copied profile cheaper to brute-force.
    typeof kdf.iterations === 'number' &&
    kdf.iterations >= PBKDF2_ITERATIONS &&
    isString(kdf.salt) &&
    typeof cipher === 'object' &&
    cipher !== null &&
    cipher.name === 'AES-GCM' &&
    isString(cipher.iv) &&
    isString(cipher.data)
  );
}

export function parseRecord(value: unknown): VaultRecord | null {
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  const valid =
    r.v === 2 &&
    sealedPartIsValid(r) &&
    (r.userId === null || isString(r.userId)) &&
    isFillList(r.filled) &&
    isNumberList(r.usedElsewhere);
  return valid ? (value as VaultRecord) : null;
}

/**
 * The single record of earlier versions as a set of today's. Its user id is unknown until a session
 * reports it; its handed-out numbers (`pending`) count as filled now, at the time of the migration.
 */
export function migrateLegacyRecord(value: unknown, now: number): VaultRecord | null {
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  if (r.v !== 1 || !sealedPartIsValid(r) || !isNumberList(r.pending)) return null;
  const {
    pending,
    v: _v,
    ...rest
  } = r as unknown as Omit<VaultRecord, 'v' | 'userId' | 'filled'> & {
    v: 1;
    pending: number[];
  };
  return {
    ...rest,
    v: 2,
    userId: null,
    filled: pending.map((number) => ({ number, at: now })),
    usedElsewhere: [],
  };
}

/** The kept sets; an entry that does not check out (altered storage) is left out, not trusted. */
export function parseRecords(value: unknown): VaultRecord[] {
  if (!Array.isArray(value)) return [];
  return value.map(parseRecord).filter((record): record is VaultRecord => record !== null);
}

export function parseSessionKeys(value: unknown): Record<string, SessionKey> {
  if (typeof value !== 'object' || value === null) return {};
  const keys: Record<string, SessionKey> = {};
  for (const [salt, entry] of Object.entries(value)) {
    const s = entry as Record<string, unknown> | null;
    if (s && isString(s.key) && typeof s.lastActive === 'number') {
      keys[salt] = { key: s.key, lastActive: s.lastActive };
    }
  }
  return keys;
}

/** What the ciphertext is bound to (GCM additional data): moving numbers or owner breaks the tag. */
export function sealContext(
  record: Pick<VaultRecord, 'server' | 'username' | 'generatedAt' | 'numbers'>,
): string {
  return JSON.stringify([
    'sparekey-vault-v1',
    record.server,
    record.username,
    record.generatedAt,
    record.numbers,
  ]);
}
