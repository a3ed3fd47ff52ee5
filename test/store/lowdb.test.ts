import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { nodeFs, type StoreFs } from '../../server/store/fs';
import { IndexUnreadableError, LowdbStore } from '../../server/store/lowdb';
import { OPEN_LOCKOUT, unknownNameKey } from '../../server/store/records';
import { DamagedAccountError, type Lockout, type Store } from '../../server/store/types';
import type { Policy } from '../../shared/api';
import { storeContract } from './contract';
import { makeEvent, makeToken, makeUser, openStore, tempDir } from './store-fixtures';

const CUSTOM_POLICY: Policy = {
  mfaUsage: 'required',
  backupCodes: { enabled: true, count: 12, warnWhenRemaining: 2 },
  adminsMustUseMfa: false,
};

async function reopen(store: LowdbStore, dir: string): Promise<LowdbStore> {
  await store.close();
  return openStore(dir);
}

const dirs = new WeakMap<Store, string>();
storeContract('lowdb', {
  async open() {
    const dir = await tempDir();
    const store = await openStore(dir);
    dirs.set(store, dir);
    return store;
  },
  async reopen(store) {
    const dir = dirs.get(store);
    if (!dir) throw new Error('not a store of this harness');
    await store.close();
    const again = await openStore(dir);
    dirs.set(again, dir);
    return again;
  },
  async unopened() {
    return new LowdbStore(await tempDir());
  },
});

describe('users', () => {
  it('refuses a user id that is not a safe file name', async () => {
    const store = await openStore();
    await expect(store.createUser(makeUser('mallory', { id: '../../etc/passwd' }))).rejects.toThrow(
      /user id/,
    );
    expect(await store.countUsers()).toBe(0);
  });

  it('keeps user files private to the server account (mode 0600)', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    await store.createUser(alice);
    const mode = (await stat(join(dir, 'users', `${alice.id}.json`))).mode & 0o777;
    expect(mode).toBe(0o600);
  });
});

/** A window that holds every attempt: the reservation then records unconditionally. */
const EVER = '1970-01-01T00:00:00.000Z';

describe('records from before escalating lockouts', () => {
  it('reads mfaFailures / mfaLockedUntil as the MFA lockout, and an open password lockout', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    await store.createUser(alice);
    await store.close();
    const file = join(dir, 'users', `${alice.id}.json`);
    // A record of that version also predates checksums: it has no seal (`sum`) either.
    const { sum: _s, passwordLockout: _p, mfaLockout: _m, ...old } = JSON.parse(await readFile(file, 'utf8'));
    const locked = { ...old, mfaFailures: [], mfaLockedUntil: '2026-11-27T11:00:00.000Z' };
    await writeFile(file, JSON.stringify(locked));
    const again = await openStore(dir);
    const read = await again.getUser(alice.id);
    expect(read?.mfaLockout).toEqual({
      failures: [],
      lockedUntil: '2026-11-27T11:00:00.000Z',
      locks: 0,
      consecutiveFailures: 0,
      needsAdminUnlock: false,
    });
    expect(read?.passwordLockout.lockedUntil).toBeNull();
    expect(read).not.toHaveProperty('mfaFailures');
  });
});

describe('updateUser', () => {
  it('leaves the user file byte for byte as it was when the change returns null', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    await store.createUser(alice);
    const file = join(dir, 'users', `${alice.id}.json`);
    const before = await readFile(file, 'utf8');

    expect(await store.updateUser(alice.id, () => ({ user: null, result: 'nothing' }))).toBe('nothing');
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('does not touch the index files when a user changes, however many users there are', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const users = Array.from({ length: 20 }, (_, i) => makeUser(`user${i}`));
    for (const user of users) await store.createUser(user);
    const target = users[7];
    if (!target) throw new Error('no user');

    const indexFiles = ['index.json', 'index.jsonl'].map((name) => join(dir, name));
    const before = await Promise.all(
      indexFiles.map(async (file) => ({
        mtime: (await stat(file).catch(() => null))?.mtimeMs ?? null,
        text: await readFile(file, 'utf8').catch(() => null),
      })),
    );
    // Some filesystems keep mtime in whole seconds: wait so a rewrite could not hide in the same tick.
    await new Promise((resolve) => setTimeout(resolve, 20));

    for (let i = 0; i < 5; i++) {
      await store.updateUser(target.id, (user) => ({
        user: {
          ...user,
          mfaLockout: {
            ...user.mfaLockout,
            failures: [...user.mfaLockout.failures, `2026-11-27T10:0${i}:00.000Z`],
          },
        },
        result: null,
      }));
    }

    const after = await Promise.all(
      indexFiles.map(async (file) => ({
        mtime: (await stat(file).catch(() => null))?.mtimeMs ?? null,
        text: await readFile(file, 'utf8').catch(() => null),
      })),
    );
    expect(after).toEqual(before);
    expect((await store.getUser(target.id))?.mfaLockout.failures).toHaveLength(5);
  });

  it('updates the index when a role changes, so a reopened store lists the new role', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    await store.createUser(alice);
    await store.updateUser(alice.id, (user) => ({ user: { ...user, role: 'admin' }, result: null }));

    const again = await reopen(store, dir);
    expect((await again.findUserByUsername('ALICE'))?.role).toBe('admin');
    const index = await readFile(join(dir, 'index.jsonl'), 'utf8');
    expect(index.trim().split('\n').pop()).toContain('"role":"admin"');
  });
});

describe('deleteUser', () => {
  it('removes the user file and the index entry (the rest of deletion is in the contract)', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    const bob = makeUser('bob');
    await store.createUser(alice);
    await store.createUser(bob);
    expect(await store.deleteUser(alice.id)).toBe(true);
    expect(await readdir(join(dir, 'users'))).toEqual([`${bob.id}.json`]);
    expect(await (await reopen(store, dir)).countUsers()).toBe(1);
    expect(await readFile(join(dir, 'index.jsonl'), 'utf8')).toContain(`"op":"delete","id":"${alice.id}"`);
  });

  // The contract lets the two run in either order; lowdb's queue runs them in the order they were called.
  it('runs an update called after a delete behind it: it finds no user', async () => {
    const store = await openStore();
    const alice = makeUser('alice');
    await store.createUser(alice);
    const [deleted, updated] = await Promise.all([
      store.deleteUser(alice.id),
      store.updateUser(alice.id, (user) => ({ user, result: 'written' })),
    ]);
    expect(deleted).toBe(true);
    expect(updated).toBeNull();
    expect(await store.getUser(alice.id)).toBeNull();
  });
});

describe('tokens', () => {
  it('stores a token under its hash, never outside the tokens directory', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const token = makeToken('user-1', { hash: '../../users/x+y/z==' });
    await store.putToken(token);
    expect(await store.getToken(token.hash)).toEqual(token);
    expect(await readdir(join(dir, 'users'))).toEqual([]);
    const [name] = await readdir(join(dir, 'tokens'));
    expect(name).toMatch(/^[0-9a-f]{64}\.json$/);
  });

  it('treats a damaged token file as no token', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const token = makeToken('user-1');
    await store.putToken(token);
    await writeFile(join(dir, 'tokens', `${token.hash}.json`), '{"hash": 1');
    expect(await store.getToken(token.hash)).toBeNull();
    expect(await store.takeToken(token.hash)).toBeNull();
  });

  it('sweeps tokens abandoned long ago, but not recent files nor tokens still valid', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const dayAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
    const abandoned = makeToken('user-1', { expiresAt: dayAgo(3).toISOString() });
    const longLived = makeToken('user-1', { expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    const freshFile = makeToken('user-1', { expiresAt: dayAgo(3).toISOString() });
    for (const token of [abandoned, longLived, freshFile]) await store.putToken(token);
    for (const token of [abandoned, longLived]) {
      await utimes(join(dir, 'tokens', `${token.hash}.json`), dayAgo(2), dayAgo(2));
    }
    await store.reserveIpAttempt('198.51.100.1', EVER, Number.POSITIVE_INFINITY, dayAgo(2).toISOString());
    await store.keepIpAttempts('198.51.100.1');
    const [ipFile] = await readdir(join(dir, 'ip-failures'));
    await utimes(join(dir, 'ip-failures', ipFile ?? ''), dayAgo(2), dayAgo(2));

    expect(await store.sweepExpired()).toBe(2);
    expect(await store.getToken(abandoned.hash)).toBeNull();
    expect(await store.getToken(longLived.hash)).toEqual(longLived);
    // Written just now (for instance under a test's fake clock): kept, whatever its expiry says.
    expect(await store.getToken(freshFile.hash)).toEqual(freshFile);
    expect(await readdir(join(dir, 'ip-failures'))).toEqual([]);
  });

  it('sweeps an unknown name idle for a day, but keeps one that locked for 30 days', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
    const failed = { ...OPEN_LOCKOUT, failures: [daysAgo(2).toISOString()], consecutiveFailures: 1 };
    const locked = { ...failed, locks: 1, lockedUntil: daysAgo(2).toISOString() };
    const set = (name: string, lockout: Lockout) =>
      store.updateUnknownNameLockout(name, () => ({ lockout, result: null }));
    await set('mallory', failed);
    await set('trudy', locked);
    await set('eve', locked);
    const age = (name: string, days: number) =>
      utimes(join(dir, 'unknown-names', `${unknownNameKey(name)}.json`), daysAgo(days), daysAgo(days));
    await age('mallory', 2);
    await age('trudy', 2);
    await age('eve', 31);

    expect(await store.sweepExpired()).toBe(2);
    expect(await readdir(join(dir, 'unknown-names'))).toEqual([`${unknownNameKey('trudy')}.json`]);
  });
});

describe('failures per client address', () => {
  it('prunes failures older than the window it was asked about, and never names the address on disk', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.reserveIpAttempt('203.0.113.7', EVER, Number.POSITIVE_INFINITY, '2026-11-27T10:00:00.000Z');
    await store.reserveIpAttempt('203.0.113.7', EVER, Number.POSITIVE_INFINITY, '2026-11-27T10:20:00.000Z');
    expect(await store.countIpFailures('203.0.113.7', '2026-11-27T10:15:00.000Z')).toBe(1);

    const [file] = await readdir(join(dir, 'ip-failures'));
    expect(file).toMatch(/^[0-9a-f]{64}\.json$/);
    const stored = JSON.parse(await readFile(join(dir, 'ip-failures', file ?? ''), 'utf8'));
    expect(stored).toEqual({ sum: expect.any(String), failures: ['2026-11-27T10:20:00.000Z'] });

    expect(await store.countIpFailures('203.0.113.7', '2026-11-27T10:30:00.000Z')).toBe(0);
    expect(await readdir(join(dir, 'ip-failures'))).toEqual([]);
  });
});

describe('what a sign-in attempt reads', () => {
  /** node's fs, counting the files read whole, by directory. */
  function countingFs() {
    const reads: string[] = [];
    const fs: StoreFs = {
      ...nodeFs,
      readFile: (path, encoding) => {
        reads.push(basename(dirname(path)));
        return nodeFs.readFile(path, encoding);
      },
    };
    return { fs, reads };
  }

  it('a reservation reads its address file once, then keeps the list it wrote; a restart reads it again', async () => {
    const dir = await tempDir();
    const { fs, reads } = countingFs();
    const store = await openStore(dir, { fs });
    const reserve = (at: string) => store.reserveIpAttempt('203.0.113.7', EVER, 3, at);
    reads.length = 0;
    expect(await reserve('2026-11-27T10:00:00.000Z')).toBe(true);
    expect(await reserve('2026-11-27T10:01:00.000Z')).toBe(true);
    await store.releaseIpAttempt('203.0.113.7', '2026-11-27T10:01:00.000Z');
    expect(await reserve('2026-11-27T10:02:00.000Z')).toBe(true);
    expect(await reserve('2026-11-27T10:03:00.000Z')).toBe(true);
    expect(await reserve('2026-11-27T10:04:00.000Z')).toBe(false);
    expect(reads.filter((d) => d === 'ip-failures')).toHaveLength(1);
    expect(await store.countIpFailures('203.0.113.7', EVER)).toBe(3);
    await store.close();

    const again = await openStore(dir);
    // The file held what memory did: the limit holds across the restart.
    expect(await again.reserveIpAttempt('203.0.113.7', EVER, 3, '2026-11-27T10:05:00.000Z')).toBe(false);
    expect(await again.countIpFailures('203.0.113.7', '2026-11-27T10:01:30.000Z')).toBe(2);
  });

  it('writes a reservation when its attempt is kept, not while it is only in flight', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const onDisk = async () => {
      const [file] = await readdir(join(dir, 'ip-failures'));
      if (!file) return [];
      const text = await readFile(join(dir, 'ip-failures', file), 'utf8');
      return (JSON.parse(text) as { failures: string[] }).failures;
    };
    const first = '2026-11-27T10:00:00.000Z';
    const second = '2026-11-27T10:01:00.000Z';
    expect(await store.reserveIpAttempt('203.0.113.7', EVER, 2, first)).toBe(true);
    // Counted at once (a second attempt sees it), written only with the attempt's outcome.
    expect(await onDisk()).toEqual([]);
    expect(await store.reserveIpAttempt('203.0.113.7', EVER, 2, second)).toBe(true);
    expect(await store.reserveIpAttempt('203.0.113.7', EVER, 2, '2026-11-27T10:02:00.000Z')).toBe(false);
    // A reservation given back before it was written costs no write.
    await store.releaseIpAttempt('203.0.113.7', second);
    expect(await onDisk()).toEqual([]);
    // A failure keeps it: durable before the failure is answered.
    await store.keepIpAttempts('203.0.113.7');
    expect(await onDisk()).toEqual([first]);
    // One given back after it was written is removed from the file too.
    await store.releaseIpAttempt('203.0.113.7', first);
    expect(await onDisk()).toEqual([]);
    // Whatever is still in flight when the store closes is written then.
    expect(await store.reserveIpAttempt('203.0.113.7', EVER, 2, second)).toBe(true);
    await store.close();
    expect(await onDisk()).toEqual([second]);
  });

  it('closes even when a reservation in flight cannot be written then, and says so in the log', async () => {
    const dir = await tempDir();
    let diskFull = false;
    const fs: StoreFs = {
      ...nodeFs,
      replaceFile: (path, text) =>
        diskFull && path.includes('ip-failures')
          ? Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }))
          : nodeFs.replaceFile(path, text),
    };
    const store = await openStore(dir, { fs });
    expect(await store.reserveIpAttempt('203.0.113.7', EVER, 2, '2026-11-27T10:00:00.000Z')).toBe(true);
    diskFull = true;
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      await store.close();
      expect(logged.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
        expect.objectContaining({
          msg: 'ip-failures file not written at close',
          error: expect.stringMatching(/no space/),
        }),
      ]);
    } finally {
      logged.mockRestore();
    }
    // Closed for real: the directory's lock is free for the next server.
    const again = await openStore(dir);
    expect(await again.countIpFailures('203.0.113.7', EVER)).toBe(0);
  });

  it('a challenge is read from its file once; a write, take or delete is seen by the next read', async () => {
    const dir = await tempDir();
    const { fs, reads } = countingFs();
    const store = await openStore(dir, { fs });
    const token = makeToken('user-1');
    await store.putToken(token);
    reads.length = 0;
    for (let i = 0; i < 5; i++) expect(await store.getToken(token.hash)).toEqual(token);
    expect(reads.filter((d) => d === 'tokens')).toHaveLength(1);

    const touched = { ...token, lastSeenAt: new Date(Date.parse(token.lastSeenAt) + 60_000).toISOString() };
    await store.putToken(touched);
    expect(await store.getToken(token.hash)).toEqual(touched);
    expect(await store.takeToken(token.hash)).toEqual(touched);
    expect(await store.getToken(token.hash)).toBeNull();

    const session = makeToken('user-1');
    await store.putToken(session);
    expect(await store.getToken(session.hash)).toEqual(session);
    await store.deleteToken(session.hash);
    expect(await store.getToken(session.hash)).toBeNull();
    // A copy: changing what a read returned changes nothing stored.
    const other = makeToken('user-2');
    await store.putToken(other);
    const read = await store.getToken(other.hash);
    if (read) read.userId = 'someone-else';
    expect(await store.getToken(other.hash)).toEqual(other);
  });

  it('a read that ran while the token was deleted does not bring it back', async () => {
    const dir = await tempDir();
    let releaseRead: () => void = () => {};
    const readHeld = new Promise<void>((resolve) => {
      releaseRead = resolve;
    });
    let holdNext = false;
    const fs: StoreFs = {
      ...nodeFs,
      readFile: async (path, encoding) => {
        const text = await nodeFs.readFile(path, encoding);
        if (holdNext && path.includes('/tokens/')) {
          holdNext = false;
          await readHeld;
        }
        return text;
      },
    };
    const store = await openStore(dir, { fs });
    const session = makeToken('user-1');
    await store.putToken(session);
    holdNext = true;
    // Reads the file before the logout, answers after it.
    const early = store.getToken(session.hash);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await store.deleteToken(session.hash);
    releaseRead();
    expect(await early).toEqual(session);
    expect(await store.getToken(session.hash)).toBeNull();
  });
});

describe('audit log', () => {
  const alice = { id: 'u-alice', username: 'alice' };
  const admin = { id: 'u-admin', username: 'admin' };

  it("lists a user's events by the index, past the lines it keeps per user, and again after a reopen", async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { auditIndexDepth: 2 });
    const bob = { id: 'u-bob', username: 'bob' };
    const mine = [];
    for (let i = 0; i < 5; i++) {
      mine.push(
        await store.appendAudit(makeEvent({ type: 'backup_code_used', actor: alice, subject: alice })),
      );
      await store.appendAudit(makeEvent({ type: 'login_succeeded', actor: bob, subject: bob }));
    }
    const done = await store.appendAudit(makeEvent({ type: 'mfa_reset', actor: admin, subject: alice }));
    const expected = [done, ...[...mine].reverse()];
    expect(await store.listAudit({ limit: 50, userId: alice.id })).toEqual(expected);
    expect(await store.listAudit({ limit: 3, userId: alice.id, type: 'backup_code_used' })).toEqual(
      expected.slice(1, 4),
    );
    expect(await store.listAudit({ limit: 50, userId: 'u-nobody' })).toEqual([]);

    const again = await reopen(store, dir);
    expect(await again.listAudit({ limit: 50, userId: alice.id })).toEqual(expected);
    expect(await again.listAudit({ limit: 50, type: 'mfa_reset' })).toEqual([done]);
  });

  it('ignores a line torn by a crash, and the next event is still read whole', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const first = await store.appendAudit(makeEvent({ actor: alice }));
    await store.close();
    await writeFile(join(dir, 'audit.jsonl'), '{"id":"torn","at":"2026-11-27T10:0', { flag: 'a' });

    const again = await openStore(dir);
    expect(await again.listAudit({ limit: 10 })).toEqual([first]);
    const second = await again.appendAudit(makeEvent({ type: 'logout', actor: alice }));
    expect(await again.listAudit({ limit: 10 })).toEqual([second, first]);
    const lines = (await readFile(join(dir, 'audit.jsonl'), 'utf8')).split('\n');
    expect(lines.filter((line) => line.length > 0).map((line) => JSON.parse(line).id)).toEqual([
      first.id,
      second.id,
    ]);
  });

  it('skips a damaged line in the middle instead of failing the listing', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const first = await store.appendAudit(makeEvent());
    await store.close();
    await writeFile(join(dir, 'audit.jsonl'), 'not json\n{"id":"x","type":"no_such_type"}\n', { flag: 'a' });
    const again = await openStore(dir);
    const last = await again.appendAudit(makeEvent({ type: 'logout' }));
    expect(await again.listAudit({ limit: 10 })).toEqual([last, first]);
  });

  it('reads a log longer than one read chunk in order, with multi-byte characters intact', async () => {
    const store = await openStore();
    const agent = `Mozilla/5.0 (Ünïcødé ✓ 🔑) ${'x'.repeat(200)}`;
    const appended = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        store.appendAudit(makeEvent({ userAgent: agent, details: { sequence: i } })),
      ),
    );
    const listed = await store.listAudit({ limit: 1000 });
    expect(listed).toHaveLength(600);
    expect(listed.map((event) => event.details?.sequence)).toEqual(
      appended.map((event) => event.details?.sequence).reverse(),
    );
    expect(listed.every((event) => event.userAgent === agent)).toBe(true);
  });
});

describe('opening a data directory', () => {
  it('ignores temp files a crash left behind, and removes them (at open, or by the sweep once old)', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    await store.createUser(alice);
    await store.setPolicy(CUSTOM_POLICY);
    await store.close();
    const leftovers = [
      join(dir, '.policy.json.0a1b2c3d4e5f.tmp'),
      join(dir, 'users', `.${alice.id}.json.0a1b2c3d4e5f.tmp`),
      join(dir, 'tokens', '.abc.json.0a1b2c3d4e5f.tmp'),
    ];
    for (const file of leftovers) await writeFile(file, '{"half a wri');

    const again = await openStore(dir);
    expect(await again.getPolicy()).toEqual(CUSTOM_POLICY);
    expect(await again.getUser(alice.id)).toEqual(alice);
    expect(await again.listUsers()).toEqual([alice]);
    expect(await readdir(dir)).not.toContain('.policy.json.0a1b2c3d4e5f.tmp');

    // A fresh temp file may be a write in progress: the sweep leaves it until it is old.
    expect(await again.sweepExpired()).toBe(0);
    const hourAgo = new Date(Date.now() - 2 * 60 * 60_000);
    for (const file of leftovers.slice(1)) await utimes(file, hourAgo, hourAgo);
    expect(await again.sweepExpired()).toBe(2);
    expect(await readdir(join(dir, 'users'))).toEqual([`${alice.id}.json`]);
    expect(await readdir(join(dir, 'tokens'))).toEqual([]);
  });

  it('opens despite a damaged user file; only that user fails to read and the list leaves it out', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    const bob = makeUser('bob');
    const carol = makeUser('carol');
    for (const user of [alice, bob, carol]) await store.createUser(user);
    await store.close();
    await writeFile(join(dir, 'users', `${bob.id}.json`), '{"id": "half');
    // Valid JSON, wrong shape.
    await writeFile(join(dir, 'users', `${carol.id}.json`), JSON.stringify({ id: carol.id, hello: 'world' }));

    const again = await openStore(dir);
    expect(await again.getUser(alice.id)).toEqual(alice);
    await expect(again.getUser(bob.id)).rejects.toBeInstanceOf(DamagedAccountError);
    await expect(again.getUser(carol.id)).rejects.toThrow(/account carol is damaged: username/);
    await expect(again.updateUser(bob.id, (user) => ({ user, result: 1 }))).rejects.toBeInstanceOf(
      DamagedAccountError,
    );
    expect(await again.listUsers()).toEqual([alice]);
    expect(await again.countUsers()).toBe(3);
    expect((await again.listDamaged()).map(({ username, reason }) => ({ username, reason }))).toEqual([
      { username: 'bob', reason: 'not valid JSON' },
      { username: 'carol', reason: expect.stringMatching(/^username: /) },
    ]);
  });

  it('fails clearly when the user index is unreadable', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    for (let i = 0; i < 3; i++) await store.createUser(makeUser(`user${i}`));
    await store.close();
    await writeFile(join(dir, 'index.json'), '{"version":1,"users":[{"id"');

    const broken = new LowdbStore(dir);
    await expect(broken.open()).rejects.toBeInstanceOf(IndexUnreadableError);
    await expect(new LowdbStore(dir).open()).rejects.toThrow(/user index cannot be read: .*index\.json/);
  });

  it('fails clearly when a line inside the index journal is damaged', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.createUser(makeUser('alice'));
    await store.close();
    await writeFile(join(dir, 'index.jsonl'), `garbage\n${await readFile(join(dir, 'index.jsonl'), 'utf8')}`);
    await expect(new LowdbStore(dir).open()).rejects.toThrow(/index\.jsonl line 1 is corrupt/);
  });

  it('fails clearly when the policy is unreadable, rather than falling back to the default', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    await store.setPolicy(CUSTOM_POLICY);
    await store.close();
    await writeFile(join(dir, 'policy.json'), JSON.stringify({ mfaUsage: 'sometimes' }));
    await expect(new LowdbStore(dir).open()).rejects.toThrow(/policy\.json is corrupt/);
  });
});

describe('a policy file from before "Administrators must use MFA"', () => {
  it('opens, reads the flag as off, and keeps it once saved again', async () => {
    const dir = await tempDir();
    await (await openStore(dir)).close();
    // As an earlier version wrote it: unsealed and without the field.
    const { adminsMustUseMfa: _, ...older } = CUSTOM_POLICY;
    await writeFile(join(dir, 'policy.json'), JSON.stringify(older));
    const store = await openStore(dir);
    expect(await store.getPolicy()).toEqual(CUSTOM_POLICY);
    await store.setPolicy({ ...CUSTOM_POLICY, adminsMustUseMfa: true });
    const again = await reopen(store, dir);
    expect((await again.getPolicy()).adminsMustUseMfa).toBe(true);
    await again.close();
  });
});

describe('user index journal', () => {
  it('compacts the journal into the snapshot and reopens to exactly the same users', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { indexCompactAfter: 10 });
    const users = Array.from({ length: 35 }, (_, i) => makeUser(`User${i}`));
    for (const user of users) await store.createUser(user);
    for (const user of users.slice(0, 5)) await store.deleteUser(user.id);
    const promoted = users[10];
    if (!promoted) throw new Error('no user');
    await store.updateUser(promoted.id, (user) => ({ user: { ...user, role: 'admin' }, result: null }));
    await store.close();

    const snapshot = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(snapshot.users.length).toBeGreaterThanOrEqual(10);
    const journalLines = (await readFile(join(dir, 'index.jsonl'), 'utf8')).split('\n').filter(Boolean);
    expect(journalLines.length).toBeLessThan(41);

    const again = await openStore(dir);
    expect(await again.countUsers()).toBe(30);
    expect((await again.listUsers()).map((user) => user.username)).toEqual(
      users.slice(5).map((user) => user.username),
    );
    expect((await again.findUserByUsername('user10'))?.role).toBe('admin');
    expect(await again.findUserByUsername('user0')).toBeNull();
  });

  it('ignores a journal line torn by a crash', async () => {
    const dir = await tempDir();
    const store = await openStore(dir);
    const alice = makeUser('alice');
    await store.createUser(alice);
    await store.close();
    await writeFile(join(dir, 'index.jsonl'), '{"op":"put","entry":{"id":"x","usern', { flag: 'a' });

    const again = await openStore(dir);
    expect(await again.countUsers()).toBe(1);
    const bob = makeUser('bob');
    await again.createUser(bob);
    const third = await reopen(again, dir);
    expect((await third.listUsers()).map((user) => user.username)).toEqual(['alice', 'bob']);
  });
});
