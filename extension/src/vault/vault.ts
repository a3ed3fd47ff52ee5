/**
 * The kept backup codes: sealed in storage.local under a passphrase, opened by a key that lives only in
 * storage.session and is dropped after an idle time. Every context (popup, background) builds its own
 * Vault on the same storage, so all state is read from storage on each call rather than cached.
 */
import { formatCode, normalizeCode } from '../../../shared/codes';
import { deriveKeyBytes, open, PBKDF2_ITERATIONS, randomSalt, seal } from './crypto';
import { fromBase64, toBase64 } from './encoding';
import { OWN_USES_KEY, type OwnUse, parseOwnUses, withOwnUse } from './own-uses';
import {
  IDLE_KEY,
  LEGACY_RECORD_KEY,
  migrateLegacyRecord,
  parseRecords,
  parseSessionKeys,
  RECORDS_KEY,
  SESSION_KEYS,
  type SessionKey,
  sealContext,
  type VaultRecord,
} from './record';
import type { Account, KeptSet as KeptSetStatus, SigningIn, Vault, VaultDeps } from './types';

export type * from './types';

export const VAULT_IDLE_ALARM = 'sparekey-vault-idle';
export const DEFAULT_IDLE_MINUTES = 15;
export const MAX_IDLE_MINUTES = 24 * 60;
/** NIST SP 800-63B's floor for memorised secrets; the KDF does the rest. */
export const MIN_PASSPHRASE_LENGTH = 8;
const MAX_PASSPHRASE_LENGTH = 1024;
/**
 * A filled number the server does not list as used yet may still be on its way (the user has not
 * pressed Verify): for the life of a sign-in's MFA challenge it stays used as far as this browser knows.
 */
export const FILL_GRACE_MS = 10 * 60 * 1000;

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

/** Numbers this browser counts as used: spent on the server, or filled since the last sync. */
function usedLocally(record: VaultRecord): Set<number> {
  return new Set([...record.spent, ...record.filled.map((f) => f.number)]);
}

function nextNumber(record: VaultRecord): number | null {
  if (record.stale) return null;
  const used = usedLocally(record);
  return sorted(record.numbers).find((n) => !used.has(n)) ?? null;
}

function remainingOf(record: VaultRecord): number {
  if (record.stale) return 0;
  const used = usedLocally(record);
  return record.numbers.filter((n) => !used.has(n)).length;
}

/** Whether `record` is the set of the user `who` on `origin`: by user id when both know it, else by name. */
function belongsTo(record: VaultRecord, origin: string | null, who: SigningIn): boolean {
  if (origin === null || record.server !== origin) return false;
  if (record.userId !== null && who.userId !== undefined) return record.userId === who.userId;
  return who.username !== undefined && sameUsername(record.username, who.username);
}

const accountOf = (account: Account): SigningIn => ({
  username: account.username,
  ...(account.userId ? { userId: account.userId } : {}),
});

type Pick1 = { kind: 'none' } | { kind: 'other'; owner: string } | { kind: 'mine'; record: VaultRecord };

/** The set of `who` on `server` among `records`; without `who`, the server's only set. */
function pickSet(records: VaultRecord[], server: string, who?: SigningIn): Pick1 {
  const origin = originOf(server);
  const ofServer = records.filter((r) => r.server === origin);
  if (ofServer.length === 0) return { kind: 'none' };
  const mine =
    who === undefined
      ? ofServer.length === 1
        ? ofServer[0]
        : undefined
      : ofServer.find((r) => belongsTo(r, origin, who));
  if (mine) return { kind: 'mine', record: mine };
  return { kind: 'other', owner: ofServer.map((r) => r.username).join(', ') };
}

export function createVault(deps: VaultDeps): Vault {
  // Serialises this context's calls: two quick fills must never both take the same number.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };

  /** The kept sets; the single record of an earlier version becomes the first of them, once. */
  async function readRecords(): Promise<VaultRecord[]> {
    const stored = (await deps.local.get(RECORDS_KEY))[RECORDS_KEY];
    if (stored !== undefined) return parseRecords(stored);
    const legacy = migrateLegacyRecord(
      (await deps.local.get(LEGACY_RECORD_KEY))[LEGACY_RECORD_KEY],
      deps.now(),
    );
    if (!legacy) return [];
    await deps.local.set({ [RECORDS_KEY]: [legacy] });
    await deps.local.remove(LEGACY_RECORD_KEY);
    return [legacy];
  }

  const writeRecords = (records: VaultRecord[]) => deps.local.set({ [RECORDS_KEY]: records });

  /** `records` with `record` in its own place (same salt: the same set). */
  const replaced = (records: VaultRecord[], record: VaultRecord) =>
    records.map((r) => (r.kdf.salt === record.kdf.salt ? record : r));

  async function idleMinutes(): Promise<number> {
    const value = (await deps.local.get(IDLE_KEY))[IDLE_KEY];
    return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_IDLE_MINUTES
      ? value
      : DEFAULT_IDLE_MINUTES;
  }

  const readKeys = async () => parseSessionKeys((await deps.session.get(SESSION_KEYS))[SESSION_KEYS]);

  /** Writes the keys and sets the idle alarm for the first of them to expire (none: no key, no alarm). */
  async function writeKeys(keys: Record<string, SessionKey>): Promise<void> {
    const entries = Object.values(keys);
    if (entries.length === 0) {
      await deps.session.remove(SESSION_KEYS);
      await deps.alarms.clear(VAULT_IDLE_ALARM);
      return;
    }
    await deps.session.set({ [SESSION_KEYS]: keys });
    const first = Math.min(...entries.map((k) => k.lastActive));
    await deps.alarms.create(VAULT_IDLE_ALARM, { when: first + (await idleMinutes()) * 60_000 });
  }

  async function dropKey(salt: string): Promise<void> {
    const keys = await readKeys();
    delete keys[salt];
    await writeKeys(keys);
  }

  /** The live key for `record`, or null: missing, or idle too long (then dropped). */
  async function liveKey(record: VaultRecord): Promise<SessionKey | null> {
    const key = (await readKeys())[record.kdf.salt];
    if (!key) return null;
    if (deps.now() - key.lastActive >= (await idleMinutes()) * 60_000) {
      await dropKey(record.kdf.salt);
      return null;
    }
    return key;
  }

  async function storeKey(keyBytes: Uint8Array, salt: string): Promise<void> {
    const keys = await readKeys();
    keys[salt] = { key: toBase64(keyBytes), lastActive: deps.now() };
    await writeKeys(keys);
  }

  async function statusOf(record: VaultRecord): Promise<KeptSetStatus> {
    const minutes = await idleMinutes();
    const key = await liveKey(record);
    return {
      state: key ? 'unlocked' : 'locked',
      server: record.server,
      username: record.username,
      userId: record.userId,
      generatedAt: record.generatedAt,
      total: record.numbers.length,
      remaining: remainingOf(record),
      used: sorted(record.spent),
      next: nextNumber(record),
      stale: record.stale,
      usedElsewhere: sorted(record.usedElsewhere),
      awaitingSync: record.filled.length > 0,
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

  async function noteOwnUse(use: OwnUse): Promise<void> {
    const uses = parseOwnUses((await deps.local.get(OWN_USES_KEY))[OWN_USES_KEY]);
    await deps.local.set({ [OWN_USES_KEY]: withOwnUse(uses, use) });
  }

  /** The set of `account`, looked up among the stored ones. */
  async function findSet(account: Account) {
    const records = await readRecords();
    const picked = pickSet(records, account.server, accountOf(account));
    return { records, record: picked.kind === 'mine' ? picked.record : null };
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
          v: 2,
          ...owned,
          userId: owner.userId ?? null,
          spent: [],
          filled: [],
          usedElsewhere: [],
          stale: false,
          kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: PBKDF2_ITERATIONS, salt: toBase64(salt) },
          cipher: { name: 'AES-GCM', iv: toBase64(sealed.iv), data: toBase64(sealed.data) },
        };
        // One set per account: a new set of the same account replaces its old one, others stay.
        const { records, record: old } = await findSet(owner);
        if (old) await dropKey(old.kdf.salt);
        await writeRecords([...records.filter((r) => r !== old), record]);
        await storeKey(keyBytes, record.kdf.salt);
        return { ok: true, status: await statusOf(record) };
      }),

    list: (server) =>
      exclusive(async () => {
        const origin = server === undefined ? undefined : originOf(server);
        const records = (await readRecords()).filter((r) => origin === undefined || r.server === origin);
        const sets: KeptSetStatus[] = [];
        for (const record of records) sets.push(await statusOf(record));
        return sets;
      }),

    setFor: (server, who) =>
      exclusive(async () => {
        const picked = pickSet(await readRecords(), server, who);
        if (picked.kind === 'none') return { state: 'empty' };
        if (picked.kind === 'other') return { state: 'other_user', owner: picked.owner };
        return statusOf(picked.record);
      }),

    unlock: (account, passphrase) =>
      exclusive(async () => {
        const { record } = await findSet(account);
        if (!record) return { ok: false, reason: 'empty' };
        const keyBytes = await deriveKeyBytes(passphrase, fromBase64(record.kdf.salt), record.kdf.iterations);
        // Decrypting is the passphrase check: no verifier is stored that could be attacked apart from the data.
        if ((await decryptCodes(record, keyBytes)) === null) return { ok: false, reason: 'wrong_passphrase' };
        await storeKey(keyBytes, record.kdf.salt);
        return { ok: true, status: await statusOf(record) };
      }),

    lock: (account) =>
      exclusive(async () => {
        if (account === undefined) return writeKeys({});
        const { record } = await findSet(account);
        if (record) await dropKey(record.kdf.salt);
      }),

    forget: (account) =>
      exclusive(async () => {
        const { records, record } = await findSet(account);
        if (!record) return;
        await writeRecords(records.filter((r) => r !== record));
        await dropKey(record.kdf.salt);
      }),

    takeNext: (server, who) =>
      exclusive(async () => {
        const records = await readRecords();
        if (records.length === 0) return { ok: false, reason: 'empty' };
        const picked = pickSet(records, server, who);
        if (picked.kind === 'none') return { ok: false, reason: 'other_server' };
        // Before the lock check: another user's sign-in must not even open the unlock popup.
        if (picked.kind === 'other') return { ok: false, reason: 'other_user', owner: picked.owner };
        const { record } = picked;
        const next = nextNumber(record);
        if (next === null) return { ok: false, reason: 'none_left' };
        const key = await liveKey(record);
        if (!key) return { ok: false, reason: 'locked' };
        const codes = await decryptCodes(record, fromBase64(key.key));
        const code = codes?.get(next);
        if (!code) return { ok: false, reason: 'locked' };
        const at = deps.now();
        record.filled = [...record.filled, { number: next, at }];
        await writeRecords(replaced(records, record));
        await noteOwnUse({
          server: record.server,
          username: record.username,
          userId: record.userId,
          number: next,
          at,
        });
        await storeKey(fromBase64(key.key), record.kdf.salt);
        return { ok: true, number: next, code: formatCode(code), remaining: remainingOf(record) };
      }),

    markRefused: (account, number) =>
      exclusive(async () => {
        const { records, record } = await findSet(account);
        if (!record?.numbers.includes(number)) return;
        record.spent = sorted([...record.spent, number]);
        record.usedElsewhere = sorted([...record.usedElsewhere, number]);
        record.filled = record.filled.filter((f) => f.number !== number);
        await writeRecords(replaced(records, record));
      }),

    applyServerStatus: (server, user, status) =>
      exclusive(async () => {
        const { records, record } = await findSet({ server, username: user.username, userId: user.id });
        if (!record) return null;
        // A set kept before user ids were recorded learns its owner's id from the first session.
        record.userId ??= user.id;
        const replacedOnServer =
          status.total === 0 ||
          (record.generatedAt !== null &&
            status.generatedAt !== null &&
            status.generatedAt !== record.generatedAt);
        const filledHere = new Set(record.filled.map((f) => f.number));
        const newlySpent = status.used.filter((n) => record.numbers.includes(n) && !record.spent.includes(n));
        const elsewhere = replacedOnServer ? [] : newlySpent.filter((n) => !filledHere.has(n));
        if (!replacedOnServer) {
          record.spent = sorted([...record.spent, ...newlySpent]);
          record.usedElsewhere = sorted([...record.usedElsewhere, ...elsewhere]);
        }
        record.stale = record.stale || replacedOnServer;
        // The server is the truth now, except for a fill so recent that its sign-in may still be under way.
        const now = deps.now();
        record.filled = record.filled.filter(
          (f) => !record.spent.includes(f.number) && now - f.at < FILL_GRACE_MS,
        );
        await writeRecords(replaced(records, record));
        return { usedElsewhere: elsewhere, replaced: replacedOnServer };
      }),

    noteOwnSignIn: (account) =>
      exclusive(async () => {
        const server = originOf(account.server);
        if (!server) return;
        await noteOwnUse({
          server,
          username: account.username,
          userId: account.userId ?? null,
          number: null,
          at: deps.now(),
        });
      }),

    ownUses: () => exclusive(async () => parseOwnUses((await deps.local.get(OWN_USES_KEY))[OWN_USES_KEY])),

    getIdleMinutes: idleMinutes,

    setIdleMinutes: (minutes) =>
      exclusive(async () => {
        if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_IDLE_MINUTES) {
          throw new RangeError(`Idle time must be a whole number of minutes from 1 to ${MAX_IDLE_MINUTES}.`);
        }
        await deps.local.set({ [IDLE_KEY]: minutes });
        // The alarm follows the new idle time.
        await writeKeys(await readKeys());
      }),

    lockIfIdle: () =>
      exclusive(async () => {
        const limit = (await idleMinutes()) * 60_000;
        const keys = await readKeys();
        const live = Object.fromEntries(
          Object.entries(keys).filter(([, key]) => deps.now() - key.lastActive < limit),
        );
        await writeKeys(live);
        return Object.keys(live).length === 0;
      }),
  };
}
