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
    expect(await vault.status()).toMatchObject({
      state: 'unlocked',
      server: SERVER,
      username: 'alice',
      total: 4,
      remaining: 4,
      next: 1,
    });

    const first = await vault.takeNext(SERVER);
    const second = await vault.takeNext(`${SERVER}/login`);
    expect(first).toEqual({ ok: true, number: 1, code: codes[0]?.code, remaining: 4 });
    expect(second).toMatchObject({ ok: true, number: 2, code: codes[1]?.code });
  });

  it('keeps no code in plain text in storage.local or storage.session, in any spelling', async () => {
    const codes = makeCodes(6);
    await vault.keep(codes, PASS, OWNER);
    await vault.takeNext(SERVER);
    const stored = local.dump() + session.dump();
    expect(stored).toContain('sparekey.vault');
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
    const sessionKey = (session.data.get('sparekey.vaultKey') as { key: string }).key;
    expect(sessionKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(local.dump()).not.toContain(sessionKey);
  });

  it('seals the same codes differently each time (fresh salt and IV)', async () => {
    const codes = makeCodes(3);
    await vault.keep(codes, PASS, OWNER);
    const a = local.data.get('sparekey.vault') as {
      kdf: { salt: string };
      cipher: { iv: string; data: string };
    };
    await vault.keep(codes, PASS, OWNER);
    const b = local.data.get('sparekey.vault') as typeof a;
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
    expect(await vault.status()).toEqual({ state: 'empty', idleMinutes: 15 });
  });

  it('hands out nothing for another server', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    expect(await vault.takeNext('https://evil.example')).toEqual({ ok: false, reason: 'other_server' });
    expect(await vault.takeNext('https://sparekey.example')).toEqual({ ok: false, reason: 'other_server' });
    expect(await vault.status()).toMatchObject({ state: 'unlocked', next: 1 });
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

    expect(await vault.unlock('wrong passphrase')).toEqual({ ok: false, reason: 'wrong_passphrase' });
    expect(local.dump() + session.dump()).toBe(before);
    expect(await vault.status()).toMatchObject({ state: 'locked', remaining: 3 });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });
  });

  it('locks and unlocks with the passphrase', async () => {
    const codes = makeCodes(2);
    await vault.keep(codes, PASS, OWNER);
    await vault.lock();
    expect(session.data.size).toBe(0);
    expect(alarms.scheduled.has(VAULT_IDLE_ALARM)).toBe(false);
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });

    const unlocked = await vault.unlock(PASS);
    expect(unlocked).toMatchObject({ ok: true, status: { state: 'unlocked' } });
    expect(await vault.takeNext(SERVER)).toMatchObject({ ok: true, number: 1, code: codes[0]?.code });
  });

  it('says when nothing is kept', async () => {
    expect(await vault.unlock(PASS)).toEqual({ ok: false, reason: 'empty' });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'empty' });
  });

  it('locks after the default 15 idle minutes, counted from the last use', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    expect(alarms.scheduled.get(VAULT_IDLE_ALARM)).toBe(clock + 15 * MINUTE);

    clock += 14 * MINUTE;
    expect(await vault.takeNext(SERVER)).toMatchObject({ ok: true, number: 1 });
    expect(alarms.scheduled.get(VAULT_IDLE_ALARM)).toBe(clock + 15 * MINUTE);

    clock += 14 * MINUTE;
    expect(await vault.status()).toMatchObject({ state: 'unlocked', lockAt: clock + MINUTE });
    clock += MINUTE;
    expect(await vault.status()).toMatchObject({ state: 'locked', lockAt: null });
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
    expect((await vault.status()).state).toBe('locked');

    await expect(vault.setIdleMinutes(0)).rejects.toThrow(RangeError);
    await expect(vault.setIdleMinutes(1.5)).rejects.toThrow(RangeError);
    expect(await vault.getIdleMinutes()).toBe(2);
  });

  it('does not open a new set with a key left from the replaced one', async () => {
    const other = createVault({ local, session: new MemoryArea(), alarms, now: () => clock });
    await vault.keep(makeCodes(2), PASS, OWNER);
    const staleKey = session.data.get('sparekey.vaultKey');
    await other.keep(makeCodes(2), 'another passphrase', OWNER);
    await session.set({ 'sparekey.vaultKey': staleKey });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });
  });
});

describe('replacing, forgetting and syncing', () => {
  it('a new set replaces the kept one', async () => {
    await vault.keep(makeCodes(4), PASS, OWNER);
    await vault.takeNext(SERVER);
    const fresh = makeCodes(3);
    await vault.keep(fresh, 'new passphrase here', { ...OWNER, generatedAt: '2025-02-01T00:00:00.000Z' });
    expect(await vault.status()).toMatchObject({ total: 3, remaining: 3, next: 1, used: [] });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 1, code: fresh[0]?.code });

    await vault.lock();
    expect(await vault.unlock(PASS)).toEqual({ ok: false, reason: 'wrong_passphrase' });
    expect((await vault.unlock('new passphrase here')).ok).toBe(true);
  });

  it('forgets everything', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.forget();
    expect(local.data.size).toBe(0);
    expect(session.data.size).toBe(0);
    expect(await vault.status()).toEqual({ state: 'empty', idleMinutes: 15 });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'empty' });
  });

  it('never offers a number the server reports as used, and says when none is left', async () => {
    const codes = makeCodes(4);
    await vault.keep(codes, PASS, OWNER);
    const status = { total: 4, generatedAt: OWNER.generatedAt };
    expect(await vault.applyServerStatus(SERVER, 'alice', { ...status, used: [1, 3, 99] })).toBe(true);
    expect(await vault.status()).toMatchObject({ remaining: 2, used: [1, 3], next: 2 });

    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 2, code: codes[1]?.code });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 4, code: codes[3]?.code });
    await vault.applyServerStatus(SERVER, 'alice', { ...status, used: [1, 2, 3, 4] });
    expect(await vault.status()).toMatchObject({ remaining: 0, next: null });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'none_left' });
  });

  it('moves past a handed-out code until the server says it is still unused', async () => {
    await vault.keep(makeCodes(3), PASS, OWNER);
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 1 });
    expect(await vault.status()).toMatchObject({ next: 2, remaining: 3 });
    await vault.applyServerStatus(SERVER, 'alice', { total: 3, generatedAt: OWNER.generatedAt, used: [] });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 1 });
  });

  it('re-offers a handed-out code only when every other one is spent', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.applyServerStatus(SERVER, 'alice', { total: 2, generatedAt: OWNER.generatedAt, used: [1] });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 2 });
    expect(await vault.takeNext(SERVER)).toMatchObject({ number: 2 });
  });

  it('ignores a status about another user or server', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    const used = { total: 2, generatedAt: OWNER.generatedAt, used: [1, 2] };
    expect(await vault.applyServerStatus(SERVER, 'bob', used)).toBe(false);
    expect(await vault.applyServerStatus('https://other.example', 'alice', used)).toBe(false);
    expect(await vault.status()).toMatchObject({ remaining: 2, next: 1 });
  });

  it('treats the kept set as dead once the server has a different set or none', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.applyServerStatus(SERVER, 'alice', {
      total: 2,
      generatedAt: '2025-03-01T00:00:00.000Z',
      used: [],
    });
    expect(await vault.status()).toMatchObject({ stale: true, remaining: 0, next: null });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'none_left' });

    await vault.keep(makeCodes(2), PASS, OWNER);
    await vault.applyServerStatus(SERVER, 'alice', { total: 0, generatedAt: null, used: [] });
    expect(await vault.status()).toMatchObject({ stale: true, remaining: 0 });
  });
});

describe('tampered storage', () => {
  it('refuses a record whose KDF cost was lowered', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    const record = local.data.get('sparekey.vault') as { kdf: { iterations: number } };
    record.kdf.iterations = 1000;
    expect(await vault.status()).toEqual({ state: 'empty', idleMinutes: 15 });
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'empty' });
  });

  it('hands out nothing once the numbers bound to the ciphertext were rewritten', async () => {
    await vault.keep(makeCodes(2), PASS, OWNER);
    const record = local.data.get('sparekey.vault') as { numbers: number[] };
    record.numbers = [2, 1];
    expect(await vault.takeNext(SERVER)).toEqual({ ok: false, reason: 'locked' });
    await vault.lock();
    expect(await vault.unlock(PASS)).toEqual({ ok: false, reason: 'wrong_passphrase' });
  });
});
