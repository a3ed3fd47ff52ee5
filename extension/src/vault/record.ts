/**
 * What the vault writes to browser.storage.local and browser.storage.session, and the checks that
 * read them back: storage is shared with every extension context, so nothing read is trusted blindly.
 */
import { PBKDF2_ITERATIONS } from './crypto';

export const RECORD_KEY = 'sparekey.vault';
export const IDLE_KEY = 'sparekey.vaultIdleMinutes';
export const SESSION_KEY = 'sparekey.vaultKey';

/** The kept set in storage.local. Numbers and their spent state are not secret; the codes are sealed. */
export interface VaultRecord {
  v: 1;
  server: string;
  username: string;
  generatedAt: string | null;
  numbers: number[];
  /** Numbers the server reported as used. */
  spent: number[];
  /** Numbers handed to a page since the last sync with the server: maybe spent, offered last. */
  pending: number[];
  /** The server's set changed since (regenerated or revoked): every kept code is dead. */
  stale: boolean;
  kdf: { name: 'PBKDF2'; hash: 'SHA-256'; iterations: number; salt: string };
  cipher: { name: 'AES-GCM'; iv: string; data: string };
}

/** The unlocked key in storage.session (memory only, gone when the browser closes). */
export interface SessionKey {
  key: string;
  /** The record's salt: a key left from a replaced set never opens the new one. */
  salt: string;
  lastActive: number;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNumberList = (value: unknown): value is number[] =>
  Array.isArray(value) && value.every((n) => Number.isInteger(n) && n > 0);

export function parseRecord(value: unknown): VaultRecord | null {
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  const kdf = r.kdf as Record<string, unknown> | undefined;
  const cipher = r.cipher as Record<string, unknown> | undefined;
  const valid =
    r.v === 1 &&
    isString(r.server) &&
    isString(r.username) &&
    (r.generatedAt === null || isString(r.generatedAt)) &&
    isNumberList(r.numbers) &&
    isNumberList(r.spent) &&
    isNumberList(r.pending) &&
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
    isString(cipher.data);
  return valid ? (value as VaultRecord) : null;
}

export function parseSessionKey(value: unknown): SessionKey | null {
  if (typeof value !== 'object' || value === null) return null;
  const s = value as Record<string, unknown>;
  return isString(s.key) && isString(s.salt) && typeof s.lastActive === 'number'
    ? (value as SessionKey)
    : null;
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
