import { beforeEach, describe, expect, it } from 'vitest';
import { createVault, VAULT_IDLE_ALARM, type Vault } from '../../extension/src/vault/vault';
import { generateCode, normalizeCode } from '../../shared/codes';
import { MemoryArea } from '../support/memory-area';

class FakeAlarms {
  scheduled = new Map<string, number>();
  create(name: string, info: { when: number }) {
    this.scheduled.set(name, info.when);
  }
  async clear(name: string) {
    return this.scheduled.delete(name);
  }
}

const SERVER = 'https://sparekey.example:8443';
const OWNER = { server: `${SERVER}/account`, username: 'alice', generatedAt: '2025-01-01T00:00:00.000Z' };
const PASS = 'correct horse battery';
const MINUTE = 60_000;
/** Alice's account, as the popup and the pages name it. */
const ALICE = { server: SERVER, username: 'alice' };
const ALICE_USER = { id: 'u-alice', username: 'alice' };
/** The stored sets, and the first of them. */
const records = () => local.data.get('sparekey.vaults') as Record<string, unknown>[];
const firstRecord = <T>() => records()[0] as T;
const sessionKeys = () => session.data.get('sparekey.vaultKeys') as Record<string, { key: string }>;

function makeCodes(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const raw = generateCode();
    return { number: i + 1, code: `${raw.slice(0, 5)}-${raw.slice(5)}` };
  });
}

let local: MemoryArea;
let session: MemoryArea;
let alarms: FakeAlarms;
let clock: number;
let vault: Vault;

beforeEach(() => {
  local = new MemoryArea();
  session = new MemoryArea();
  alarms = new FakeAlarms();
  clock = Date.UTC(2025, 0, 2);
  vault = createVault({ local, session, alarms, now: () => clock });
});

describe('keeping and taking codes', () => {
  it('round-trips: kept codes come back in number order, one per take', async () => {
    const codes = makeCodes(4);
    const kept = await vault.keep(codes, PASS, OWNER);
    expect(kept.ok).toBe(true);
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({
      state: 'unlocked',
      server: SERVER,
      username: 'alice',
      total: 4,
      remaining: 4,
      next: 1,
    });

    const first = await vault.takeNext(SERVER);
    const second = await vault.takeNext(`${SERVER}/login`);
    expect(first).toEqual({ ok: true, number: 1, code: codes[0]?.code, remaining: 3 });
    expect(second).toMatchObject({ ok: true, number: 2, code: codes[1]?.code });
  });

  it('keeps no code in plain text in storage.local or storage.session, in any spelling', async () => {
    const codes = makeCodes(6);
    await vault.keep(codes, PASS, OWNER);
    await vault.takeNext(SERVER);
    const stored = local.dump() + session.dump();
    expect(stored).toContain('sparekey.vaults');
    for (const { code } of codes) {
      const canonical = normalizeCode(code) ?? '';
      for (const form of [code, canonical, code.toLowerCase(), canonical.toLowerCase()]) {
        expect(stored).not.toContain(form);
      }
    }
    expect(local.dump()).not.toContain(PASS);
    expect(session.dump()).not.toContain(PASS);
  });

  it('never writes the unlocked key to storage.local', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    const sessionKey = Object.values(sessionKeys())[0]?.key as string;
    expect(sessionKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(local.dump()).not.toContain(sessionKey);
  });

  it('seals the same codes differently each time (fresh salt and IV)', async () => {
    const codes = makeCodes(3);
    await vault.keep(codes, PASS, OWNER);
    const a = firstRecord<{
      kdf: { salt: string };
      cipher: { iv: string; data: string };
    }>();
    await vault.keep(codes, PASS, OWNER);
    const b = firstRecord<typeof a>();
    expect(b.kdf.salt).not.toBe(a.kdf.salt);
    expect(b.cipher.iv).not.toBe(a.cipher.iv);
    expect(b.cipher.data).not.toBe(a.cipher.data);
  });

  it('refuses a short passphrase and malformed codes, storing nothing', async () => {
    expect(await vault.keep(makeCodes(2), 'short', OWNER)).toEqual({ ok: false, reason: 'weak_passphrase' });
    expect(await vault.keep([{ number: 1, code: 'not a code' }], PASS, OWNER)).toEqual({
      ok: false,
      reason: 'invalid_codes',
    });
    const dup = makeCodes(2).map((c) => ({ ...c, number: 1 }));
    expect(await vault.keep(dup, PASS, OWNER)).toEqual({ ok: false, reason: 'invalid_codes' });
    expect(await vault.keep(makeCodes(2), PASS, { ...OWNER, server: 'not a url' })).toEqual({
      ok: false,
      reason: 'invalid_codes',
    });
    expect(local.data.size).toBe(0);
    expect(session.data.size).toBe(0);
    expect(await vault.setFor(SERVER, ALICE)).toEqual({ state: 'empty' });
  });

  it('hands out nothing for another server', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    expect(await vault.takeNext('https://evil.example')).toEqual({ ok: false, reason: 'other_server' });
    expect(await vault.takeNext('https://sparekey.example')).toEqual({ ok: false, reason: 'other_server' });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ state: 'unlocked', next: 1 });
  });

  it('gives two simultaneous requests two different codes', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    const [a, b] = await Promise.all([vault.takeNext(SERVER), vault.takeNext(SERVER)]);
    expect(a.ok && b.ok && [a.number, b.number]).toEqual([1, 2]);
  });
});

describe('locking', () => {
  it('a wrong passphrase says so and changes nothing', async () => {
    await vault.keep(makeCodes(3), PASS, OWNER);
    await vault.lock();
    const before = local.dump() + session.dump();

    expect(await vault.unlock(ALICE, 'wrong passphrase')).toEqual({ ok: false, reason: 'wrong_passphrase' });
    expect(local.dump() + session.dump()).toBe(before);
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ state: 'locked', remaining: 3 });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });
  });

  it('locks and unlocks with the passphrase', async () => {
    const codes = makeCodes(2);
    await vault.keep(codes, PASS, OWNER);
    await vault.lock();
    expect(session.data.size).toBe(0);
    expect(alarms.scheduled.has(VAULT_IDLE_ALARM)).toBe(false);
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });

    const unlocked = await vault.unlock(ALICE, PASS);
    expect(unlocked).toMatchObject({ ok: true, status: { state: 'unlocked' } });
    expect(await vault.takeNext(SERVER)).toMatchObject({ ok: true, number: 1, code: codes[0]?.code });
  });

  it('says when nothing is kept', async () => {
    expect(await vault.unlock(ALICE, PASS)).toEqual({ ok: false, reason: 'empty' });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'empty' });
  });

  it('locks after the default 15 idle minutes, counted from the last use', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    expect(alarms.scheduled.get(VAULT_IDLE_ALARM)).toBe(clock + 15 * MINUTE);

    clock += 14 * MINUTE;
    expect(await vault.takeNext(SERVER)).toMatchObject({ ok: true, number: 1 });
    expect(alarms.scheduled.get(VAULT_IDLE_ALARM)).toBe(clock + 15 * MINUTE);

    clock += 14 * MINUTE;
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ state: 'unlocked', lockAt: clock + MINUTE });
    clock += MINUTE;
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ state: 'locked', lockAt: null });
    expect(session.data.size).toBe(0);
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });
  });

  it('drops the key when the idle alarm fires, but not while still in use', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    clock += 10 * MINUTE;
    expect(await vault.lockIfIdle()).toBe(false);
    expect(session.data.size).toBe(1);
    clock += 5 * MINUTE;
    expect(await vault.lockIfIdle()).toBe(true);
    expect(session.data.size).toBe(0);
    expect(alarms.scheduled.size).toBe(0);
  });

  it('honours the idle time the user sets, and rejects nonsense', async () => {
    await vault.setIdleMinutes(5);
    expect(await vault.getIdleMinutes()).toBe(5);
    await vault.keep(makeCodes(2), PASS, OWNER);
    expect(alarms.scheduled.get(VAULT_IDLE_ALARM)).toBe(clock + 5 * MINUTE);

    await vault.setIdleMinutes(2);
    expect(alarms.scheduled.get(VAULT_IDLE_ALARM)).toBe(clock + 2 * MINUTE);
    clock += 2 * MINUTE;
    expect((await vault.setFor(SERVER, ALICE)).state).toBe('locked');

    await expect(vault.setIdleMinutes(0)).rejects.toThrow(RangeError);
    await expect(vault.setIdleMinutes(1.5)).rejects.toThrow(RangeError);
    expect(await vault.getIdleMinutes()).toBe(2);
  });

  it('does not open a new set with a key left from the replaced one', async () => {
    const other = createVault({ local, session: new MemoryArea(), alarms, now: () => clock });
    await vault.keep(makeCodes(2), PASS, OWNER);
    const staleKeys = session.data.get('sparekey.vaultKeys');
    await other.keep(makeCodes(2), 'another passphrase', OWNER);
    await session.set({ 'sparekey.vaultKeys': staleKeys });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });
  });
});

describe('replacing, forgetting and syncing', () => {
  it('a new set replaces the kept one', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    await vault.takeNext(SERVER);
    const fresh = makeCodes(3);
    await vault.keep(fresh, 'new passphrase here', { ...OWNER, generatedAt: '2025-02-01T00:00:00.000Z' });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ total: 3, remaining: 3, next: 1, used: [] });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 1, code: fresh[0]?.code });

    await vault.lock();
    expect(await vault.unlock(ALICE, PASS)).toEqual({ ok: false, reason: 'wrong_passphrase' });
    expect((await vault.unlock(ALICE, 'new passphrase here')).ok).toBe(true);
  });

  it('forgets everything', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.forget(ALICE);
    expect(records()).toEqual([]);
    expect(session.data.size).toBe(0);
    expect(await vault.setFor(SERVER, ALICE)).toEqual({ state: 'empty' });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'empty' });
  });

  it('never offers a number the server reports as used, and says when none is left', async () => {
    const codes = makeCodes(4);
    await vault.keep(codes, PASS, OWNER);
    const status = { total: 4, generatedAt: OWNER.generatedAt };
    expect(await vault.applyServerStatus(SERVER, ALICE_USER, { ...status, used: [1, 3, 99] })).toEqual({
      usedElsewhere: [1, 3],
      replaced: false,
    });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ remaining: 2, used: [1, 3], next: 2 });

    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 2, code: codes[1]?.code });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 4, code: codes[3]?.code });
    await vault.applyServerStatus(SERVER, ALICE_USER, { ...status, used: [1, 2, 3, 4] });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ remaining: 0, next: null });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'none_left' });
  });

  it('counts a filled code as used at once, until the server says it is unused and its sign-in is over', async () => {
    await vault.keep(makeCodes(3), PASS, OWNER);
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 1, remaining: 2 });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ next: 2, remaining: 2, awaitingSync: true });
    const unused = { total: 3, generatedAt: OWNER.generatedAt, used: [] };
    // A sync while the sign-in may still be under way leaves the fill marked.
    clock += 9 * MINUTE;
    await vault.applyServerStatus(SERVER, ALICE_USER, unused);
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ next: 2, awaitingSync: true });
    // Past the life of a sign-in, the server is the truth: #1 was never submitted.
    clock += MINUTE;
    await vault.applyServerStatus(SERVER, ALICE_USER, unused);
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ next: 1, remaining: 3, awaitingSync: false });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 1 });
  });

  it('offers none when every code left was filled, even offline', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.applyServerStatus(SERVER, ALICE_USER, {
      total: 2,
      generatedAt: OWNER.generatedAt,
      used: [1],
    });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 2 });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'none_left' });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ remaining: 0, next: null });
  });

  it('ignores a status about another user or server', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    const used = { total: 2, generatedAt: OWNER.generatedAt, used: [1, 2] };
    expect(await vault.applyServerStatus(SERVER, { id: 'u-bob', username: 'bob' }, used)).toBeNull();
    expect(await vault.applyServerStatus('https://other.example', ALICE_USER, used)).toBeNull();
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ remaining: 2, next: 1 });
  });

  it('treats the kept set as dead once the server has a different set or none', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.applyServerStatus(SERVER, ALICE_USER, {
      total: 2,
      generatedAt: '2025-03-01T00:00:00.000Z',
      used: [],
    });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ stale: true, remaining: 0, next: null });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'none_left' });

    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.applyServerStatus(SERVER, ALICE_USER, { total: 0, generatedAt: null, used: [] });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ stale: true, remaining: 0 });
  });
});

describe('tampered storage', () => {
  it('refuses a record whose KDF cost was lowered', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    const record = firstRecord<{ kdf: { iterations: number } }>();
    record.kdf.iterations = 1000;
    expect(await vault.setFor(SERVER, ALICE)).toEqual({ state: 'empty' });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'empty' });
  });

  it('hands out nothing once the numbers bound to the ciphertext were rewritten', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    const record = firstRecord<{ numbers: number[] }>();
    record.numbers = [2, 1];
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });
    await vault.lock();
    expect(await vault.unlock(ALICE, PASS)).toEqual({ ok: false, reason: 'wrong_passphrase' });
  });
});

describe('one kept set per account', () => {
  const BOB = { server: SERVER, username: 'bob' };
  const OTHER_SERVER = 'https://other.example';

  it('keeps a set for each user and server, and each fills only its own', async () => {
    const alices = makeCodes(2);
    const bobs = makeCodes(2);
    const elsewhere = makeCodes(2);
    await vault.keep(alices, PASS, { ...OWNER, userId: 'u-alice' });
    await vault.keep(bobs, 'bob passphrase', { ...BOB, userId: 'u-bob' });
    await vault.keep(elsewhere, 'third passphrase', { server: OTHER_SERVER, username: 'alice' });
    expect((await vault.list()).map((set) => [set.server, set.username])).toEqual([
      [SERVER, 'alice'],
      [SERVER, 'bob'],
      [OTHER_SERVER, 'alice'],
    ]);
    expect((await vault.list(SERVER)).map((set) => set.username)).toEqual(['alice', 'bob']);

    expect(await vault.takeNext(SERVER, { username: 'bob' })).toMatchObject({
      number: 1,
      code: bobs[0]?.code,
    });
    expect(await vault.takeNext(SERVER, { username: 'Alice' })).toMatchObject({
      number: 1,
      code: alices[0]?.code,
    });
    expect(await vault.takeNext(OTHER_SERVER, { username: 'alice' })).toMatchObject({
      code: elsewhere[0]?.code,
    });
    expect(await vault.takeNext(SERVER, { username: 'carol' })).toEqual({
      ok: false,
      reason: 'other_user',
      owner: 'alice, bob',
    });
    // A page that names no one gets nothing where two users keep a set.
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'other_user', owner: 'alice, bob' });
    expect(await vault.setFor(SERVER, { username: 'carol' })).toEqual({
      state: 'other_user',
      owner: 'alice, bob',
    });
  });

  it('tells users apart by id when both sides know it: a new account of the same name gets nothing', async () => {
    await vault.keep(makeCodes(2), PASS, { ...OWNER, userId: 'u-alice' });
    expect(await vault.takeNext(SERVER, { username: 'alice', userId: 'u-new-alice' })).toEqual({
      ok: false,
      reason: 'other_user',
      owner: 'alice',
    });
    expect(await vault.takeNext(SERVER, { username: 'alice', userId: 'u-alice' })).toMatchObject({
      number: 1,
    });
  });

  it('a new set replaces only its own account’s; locking, unlocking and forgetting touch one set', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.keep(makeCodes(2), 'bob passphrase', BOB);
    await vault.keep(makeCodes(3), 'alice new passphrase', {
      ...OWNER,
      generatedAt: '2025-02-01T00:00:00.000Z',
    });
    expect((await vault.list()).map((set) => [set.username, set.total])).toEqual([
      ['bob', 2],
      ['alice', 3],
    ]);
    expect(Object.keys(sessionKeys())).toHaveLength(2);

    await vault.lock(BOB);
    expect(await vault.setFor(SERVER, BOB)).toMatchObject({ state: 'locked' });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ state: 'unlocked' });
    expect(await vault.unlock(BOB, 'alice new passphrase')).toEqual({
      ok: false,
      reason: 'wrong_passphrase',
    });
    expect(await vault.unlock(BOB, 'bob passphrase')).toMatchObject({
      ok: true,
      status: { username: 'bob' },
    });

    await vault.forget(BOB);
    expect((await vault.list()).map((set) => set.username)).toEqual(['alice']);
    expect(Object.keys(sessionKeys())).toHaveLength(1);
    expect(await vault.unlock(BOB, 'bob passphrase')).toEqual({ ok: false, reason: 'empty' });
    await vault.lock();
    expect(session.data.size).toBe(0);
  });

  it('migrates the single record of an earlier version on read, unlocked by the same passphrase', async () => {
    const codes = makeCodes(4);
    await vault.keep(codes, PASS, OWNER);
    await vault.lock();
    const {
      userId: _id,
      filled: _f,
      usedElsewhere: _e,
      v: _v,
      ...shared
    } = firstRecord<Record<string, unknown>>();
    local.data.delete('sparekey.vaults');
    await local.set({ 'sparekey.vault': { ...shared, v: 1, spent: [1], pending: [2] } });

    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({
      state: 'locked',
      username: 'alice',
      userId: null,
      used: [1],
      next: 3,
      awaitingSync: true,
    });
    expect(local.data.has('sparekey.vault')).toBe(false);
    expect(records()).toHaveLength(1);
    expect((await vault.unlock(ALICE, PASS)).ok).toBe(true);
    expect(await vault.takeNext(SERVER, { username: 'alice' })).toMatchObject({
      number: 3,
      code: codes[2]?.code,
    });

    // The first session tells whose it is; from then on the id decides.
    clock += 11 * MINUTE;
    await vault.applyServerStatus(SERVER, ALICE_USER, {
      total: 4,
      generatedAt: OWNER.generatedAt,
      used: [1, 2, 3],
    });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({
      userId: 'u-alice',
      next: 4,
      usedElsewhere: [],
    });
    expect(await vault.takeNext(SERVER, { username: 'alice', userId: 'u-other' })).toMatchObject({
      reason: 'other_user',
    });
  });

  it('leaves an old record that does not check out alone, and reads as empty', async () => {
    await local.set({ 'sparekey.vault': { v: 1, server: SERVER, username: 'alice' } });
    expect(await vault.list()).toEqual([]);
    expect(await vault.setFor(SERVER, ALICE)).toEqual({ state: 'empty' });
  });
});

describe('reconciling with the server', () => {
  const status = (used: number[], generatedAt = OWNER.generatedAt) => ({ total: 4, generatedAt, used });

  it('a code used elsewhere is said, apart from the ones this browser filled', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    await vault.takeNext(SERVER, { username: 'alice' });
    expect(await vault.applyServerStatus(SERVER, ALICE_USER, status([1, 3]))).toEqual({
      usedElsewhere: [3],
      replaced: false,
    });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({
      used: [1, 3],
      usedElsewhere: [3],
      next: 2,
      awaitingSync: false,
    });
    // Told once: the next sync finds nothing new.
    expect(await vault.applyServerStatus(SERVER, ALICE_USER, status([1, 3]))).toEqual({
      usedElsewhere: [],
      replaced: false,
    });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ usedElsewhere: [3] });
  });

  it('a new set generated elsewhere makes the kept one stale, offering nothing', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    expect(
      await vault.applyServerStatus(SERVER, ALICE_USER, status([1], '2025-05-05T00:00:00.000Z')),
    ).toEqual({
      usedElsewhere: [],
      replaced: true,
    });
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ stale: true, next: null, used: [] });
  });

  it('a filled code the server refused as already used is spent elsewhere, and the next one is offered', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    expect(await vault.takeNext(SERVER, { username: 'alice' })).toMatchObject({ number: 1 });
    await vault.markRefused(ALICE, 1);
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({
      used: [1],
      usedElsewhere: [1],
      next: 2,
      awaitingSync: false,
    });
    // A number the set does not have, or another user's set, changes nothing.
    await vault.markRefused(ALICE, 9);
    await vault.markRefused({ server: SERVER, username: 'bob' }, 2);
    expect(await vault.setFor(SERVER, ALICE)).toMatchObject({ used: [1], next: 2 });
  });
});

describe('the codes this browser used', () => {
  it('notes each fill and each typed sign-in, per server and user, with the time', async () => {
    await vault.keep(makeCodes(4), PASS, { ...OWNER, userId: 'u-alice' });
    await vault.takeNext(SERVER, { username: 'alice' });
    clock += MINUTE;
    await vault.takeNext(SERVER, { username: 'alice' });
    await vault.noteOwnSignIn({ server: `${SERVER}/x`, username: 'bob', userId: 'u-bob' });
    expect(await vault.ownUses()).toEqual([
      { server: SERVER, username: 'alice', userId: 'u-alice', number: 1, at: clock - MINUTE },
      { server: SERVER, username: 'alice', userId: 'u-alice', number: 2, at: clock },
      { server: SERVER, username: 'bob', userId: 'u-bob', number: null, at: clock },
    ]);
    // Forgetting the set keeps the record of what this browser used.
    await vault.forget(ALICE);
    expect(await vault.ownUses()).toHaveLength(3);
  });
});
