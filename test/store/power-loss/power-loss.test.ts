/**
 * Power-loss safety, proven the way ALICE (OSDI 2014) and CrashMonkey (OSDI 2018) do it: the store's
 * write paths run over a recorder of its file-system calls (./recording-fs.ts); after every call, the
 * disk states a power cut there could leave are built (./crash-states.ts), the store is opened on each
 * one, and what a user would notice is checked: the store opens, every write whose promise resolved is
 * there, no spent code is usable again, no code set is mixed with another, and the index agrees with
 * the user files. SIGKILL (test/store/crash.test.ts) cannot show a missing fsync: the page cache
 * survives a killed process; this can.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ensureKeys, rotateSigningKey } from '../../../server/oidc/keys';
import { LowdbStore } from '../../../server/store/lowdb';
import type { BackupCodeSet, UserRecord } from '../../../server/store/types';
import type { Policy } from '../../../shared/api';
import { makeApplication, makeEvent, makeToken, makeUser } from '../store-fixtures';
import { crashStates, type DiskState, writeDiskState } from './crash-states';
import { RecordingFs } from './recording-fs';

/** Combinations tried per crash point before sampling (deterministically) instead. */
const STATES_PER_POINT = 48;
/** tmpfs when there is one: the states are written and read thousands of times. */
const SCRATCH = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/** What the workload saw acknowledged, in order; crash point n must keep facts[0 .. acked). */
type Fact =
  | { kind: 'policy'; policy: Policy }
  | { kind: 'user'; id: string; username: string }
  | { kind: 'role'; id: string; role: 'user' | 'admin' }
  | { kind: 'deleted'; id: string; username: string }
  | { kind: 'set'; userId: string; set: BackupCodeSet }
  | { kind: 'spent'; userId: string; setId: string; number: number }
  | { kind: 'token'; hash: string }
  | { kind: 'taken'; hash: string }
  | { kind: 'audit'; id: string }
  | { kind: 'application'; id: string; clientId: string }
  /** The OIDC key set as acknowledged: the kid that signs now. */
  | { kind: 'keys'; signingKid: string };

function newSet(codes = 10): BackupCodeSet {
  return {
    id: randomBytes(8).toString('hex'),
    salt: randomBytes(16).toString('base64'),
    generatedAt: new Date().toISOString(),
    codes: Array.from({ length: codes }, (_, i) => ({
      number: i + 1,
      digest: randomBytes(32).toString('base64'),
      usedAt: null,
    })),
  };
}

/** Runs every write path of the store once or more, acknowledging each write as its promise resolves. */
async function workload(root: string) {
  const fs = new RecordingFs(root);
  const facts: Fact[] = [];
  const sets = new Map<string, { set: BackupCodeSet; userId: string; order: number }>();
  const ack = (fact: Fact) => {
    facts.push(fact);
    expect(fs.ack()).toBe(facts.length);
  };
  // A small compaction threshold: the index snapshot is rewritten several times.
  // Small audit files too: the log rotates (rename, new file) several times.
  const store = new LowdbStore(root, { fs, indexCompactAfter: 3, audit: { rotateBytes: 600 } });
  await store.open();

  const setPolicy = async (policy: Policy) => {
    await store.setPolicy(policy);
    ack({ kind: 'policy', policy });
  };
  const create = async (username: string, overrides: Partial<UserRecord> = {}) => {
    const user = makeUser(username, overrides);
    await store.createUser(user);
    ack({ kind: 'user', id: user.id, username });
    return user;
  };
  const generate = async (user: UserRecord) => {
    const set = newSet();
    sets.set(set.id, { set, userId: user.id, order: sets.size });
    await store.updateUser(user.id, (current) => ({
      user: { ...current, backupCodes: structuredClone(set) },
      result: true,
    }));
    ack({ kind: 'set', userId: user.id, set });
    return set;
  };
  const spend = async (user: UserRecord, set: BackupCodeSet, number: number) => {
    const spent = await store.updateUser(user.id, (current) => {
      const held = current.backupCodes;
      const code = held?.id === set.id ? held.codes[number - 1] : undefined;
      if (!held || !code?.digest) return { user: null, result: false };
      const spentCode = { ...code, digest: null, usedAt: new Date().toISOString() };
      const codes = held.codes.map((other) => (other === code ? spentCode : other));
      return { user: { ...current, backupCodes: { ...held, codes } }, result: true };
    });
    expect(spent).toBe(true);
    ack({ kind: 'spent', userId: user.id, setId: set.id, number });
  };
  const audit = async (type: 'login_succeeded' | 'backup_code_used', subject: UserRecord | null) => {
    const event = await store.appendAudit(
      makeEvent({ type, subject: subject && { id: subject.id, username: subject.username } }),
    );
    ack({ kind: 'audit', id: event.id });
  };
  const putToken = async (userId: string) => {
    const token = makeToken(userId);
    await store.putToken(token);
    ack({ kind: 'token', hash: token.hash });
    return token.hash;
  };

  await setPolicy(POLICIES[0] as Policy);
  const [alice, bob] = await Promise.all([create('alice', { role: 'admin' }), create('bob')]);
  const first = await generate(alice);
  await spend(alice, first, 1);
  // Two spends of one user at once: they run one after the other under the user's lock.
  await Promise.all([spend(alice, first, 2), spend(alice, first, 3)]);
  const [t1, t2] = await Promise.all([putToken(alice.id), putToken(bob.id)]);
  expect(await store.takeToken(t1)).not.toBeNull();
  ack({ kind: 'taken', hash: t1 });
  // Concurrent appends share one fsync (group commit).
  await Promise.all([
    audit('login_succeeded', alice),
    audit('backup_code_used', alice),
    audit('login_succeeded', bob),
  ]);
  const carol = await create('carol');
  await create('dave');
  const second = await generate(alice);
  await spend(alice, second, 4);
  await store.updateUser(bob.id, (current) => ({ user: { ...current, role: 'admin' }, result: true }));
  ack({ kind: 'role', id: bob.id, role: 'admin' });
  await store.deleteUser(carol.id);
  ack({ kind: 'deleted', id: carol.id, username: 'carol' });
  await store.deleteToken(t2);
  ack({ kind: 'taken', hash: t2 });
  await Promise.all([create('erin'), create('frank'), audit('login_succeeded', null)]);
  const bobs = await generate(bob);
  await Promise.all([spend(bob, bobs, 2), spend(alice, second, 1), create('grace')]);
  await setPolicy(POLICIES[1] as Policy);
  // A batch of appends larger than a sector: the power cut can tear it between two sectors.
  await Promise.all(Array.from({ length: 12 }, (_, i) => audit('login_succeeded', i % 2 ? alice : bob)));
  // OpenID Connect: applications registered while accounts are created, the first key set, a rotation.
  const register = async (name: string) => {
    const application = makeApplication({
      id: randomBytes(8).toString('hex'),
      clientId: randomBytes(12).toString('base64url'),
      name,
      redirectUris: [`https://${name}.example/callback`],
    });
    await store.createApplication(application);
    ack({ kind: 'application', id: application.id, clientId: application.clientId });
  };
  const keys = async (change: () => Promise<{ signing: { kid: string }[] }>) => {
    const kid = (await change()).signing[0]?.kid ?? '';
    ack({ kind: 'keys', signingKid: kid });
  };
  await Promise.all([register('grafana'), create('heidi')]);
  await keys(() => ensureKeys(store));
  await Promise.all([register('gitlab'), keys(() => rotateSigningKey(store))]);
  await store.close();
  return { points: fs.points, facts, sets };
}

type Sets = Map<string, { set: BackupCodeSet; userId: string; order: number }>;

/** Opens the store on one disk state and checks everything the acknowledged facts promise. */
async function check(dir: string, allFacts: Fact[], acked: number, sets: Sets): Promise<void> {
  const facts = allFacts.slice(0, acked);
  // A write not yet acknowledged at the cut may have landed or not: what it would change is open.
  const inFlight = allFacts.slice(acked);
  const mayBeDeleted = new Set(inFlight.flatMap((fact) => (fact.kind === 'deleted' ? [fact.id] : [])));
  const mayChangeRole = new Set(inFlight.flatMap((fact) => (fact.kind === 'role' ? [fact.id] : [])));
  const mayBeTaken = new Set(inFlight.flatMap((fact) => (fact.kind === 'taken' ? [fact.hash] : [])));
  const store = new LowdbStore(dir);
  // It opens: a power cut must never leave a store that refuses to start.
  await store.open();
  try {
    const users = new Map<string, { username: string; role?: string; deleted?: boolean }>();
    let policy: Policy | null = null;
    const tokens = new Map<string, boolean>();
    const audit: string[] = [];
    const lastSet = new Map<string, number>();
    const spent: Array<{ userId: string; setId: string; number: number }> = [];
    for (const fact of facts) {
      if (fact.kind === 'policy') policy = fact.policy;
      if (fact.kind === 'user') users.set(fact.id, { username: fact.username });
      if (fact.kind === 'role')
        users.set(fact.id, {
          ...users.get(fact.id),
          username: users.get(fact.id)?.username ?? '',
          role: fact.role,
        });
      if (fact.kind === 'deleted') users.set(fact.id, { username: fact.username, deleted: true });
      if (fact.kind === 'set') lastSet.set(fact.userId, sets.get(fact.set.id)?.order ?? -1);
      if (fact.kind === 'spent') spent.push(fact);
      if (fact.kind === 'token') tokens.set(fact.hash, true);
      if (fact.kind === 'taken') tokens.set(fact.hash, false);
      if (fact.kind === 'audit') audit.push(fact.id);
    }
    if (policy) {
      // The next policy may have landed too (written, not yet acknowledged), never an older one.
      const saved = await store.getPolicy();
      const policies = facts.flatMap((fact) => (fact.kind === 'policy' ? [fact.policy] : []));
      expect([policy, ...POLICIES.slice(policies.length)]).toContainEqual(saved);
    }
    for (const [id, expected] of users) {
      const user = await store.getUser(id);
      const found = await store.findUserByUsername(expected.username);
      if (user === null && mayBeDeleted.has(id)) continue;
      if (expected.deleted) {
        expect(user, `deleted user ${expected.username} came back`).toBeNull();
        expect(found).toBeNull();
        continue;
      }
      expect(user?.username, `acknowledged user ${expected.username}`).toBe(expected.username);
      expect(found?.id).toBe(id);
      if (expected.role && !mayChangeRole.has(id)) expect(user?.role).toBe(expected.role);
    }
    // The index agrees with the user files: every indexed user reads whole, under its indexed name and role.
    const listed = await store.listUsers();
    expect(listed.length).toBe(await store.countUsers());
    for (const user of listed) expect((await store.findUserByUsername(user.username))?.id).toBe(user.id);
    expect(new Set(await store.listAdminIds())).toEqual(
      new Set(listed.filter((user) => user.role === 'admin').map((user) => user.id)),
    );
    for (const user of listed) {
      const set = user.backupCodes;
      const minimum = lastSet.get(user.id);
      if (minimum !== undefined) expect(set, `${user.username} lost an acknowledged set`).not.toBeNull();
      if (!set) continue;
      // Never a mix: exactly one generated set, each code its own digest or spent.
      const known = sets.get(set.id);
      expect(known?.userId, `${user.username} holds an unknown or foreign set`).toBe(user.id);
      if (!known) continue;
      if (minimum !== undefined) expect(known.order).toBeGreaterThanOrEqual(minimum);
      expect(set.salt).toBe(known.set.salt);
      expect(set.codes.map((code) => code.number)).toEqual(known.set.codes.map((code) => code.number));
      set.codes.forEach((code, i) => {
        if (code.digest !== null) expect(code.digest).toBe(known.set.codes[i]?.digest);
        expect(code.digest === null).toBe(code.usedAt !== null);
      });
      // No spent code is usable again.
      for (const spend of spent) {
        if (spend.userId !== user.id || spend.setId !== set.id) continue;
        expect(set.codes[spend.number - 1]?.digest, `spent code ${spend.number} usable again`).toBeNull();
      }
    }
    for (const [hash, alive] of tokens) {
      const token = await store.getToken(hash);
      if (!alive) expect(token, 'a taken token came back').toBeNull();
      else if (!mayBeTaken.has(hash)) expect(token?.hash, 'an acknowledged token is lost').toBe(hash);
    }
    const listedAudit = new Set((await store.listAudit({ limit: 500 })).map((event) => event.id));
    for (const id of audit) expect(listedAudit.has(id), 'an acknowledged audit event is lost').toBe(true);

    for (const fact of facts) {
      if (fact.kind !== 'application') continue;
      const application = await store.getApplication(fact.id);
      expect(application?.clientId, 'an acknowledged application is lost').toBe(fact.clientId);
      expect((await store.findApplicationByClientId(fact.clientId))?.id).toBe(fact.id);
    }
    // The key set reads whole (never damaged); it is the one acknowledged last, or one written after it.
    const signingKids = (list: Fact[]) =>
      list.flatMap((fact) => (fact.kind === 'keys' ? [fact.signingKid] : []));
    const acknowledgedKid = signingKids(facts).at(-1);
    const saved = (await store.getOidcKeys())?.signing[0]?.kid;
    if (acknowledgedKid) expect([acknowledgedKid, ...signingKids(inFlight)]).toContain(saved);
    else if (saved !== undefined) expect(signingKids(inFlight)).toContain(saved);
  } finally {
    await store.close();
  }
}

/** The two policies the workload saves, in order; every field said, as the store reads it back. */
const POLICIES: Policy[] = [
  {
    mfaUsage: 'required',
    backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 },
    adminsMustUseMfa: false,
  },
  {
    mfaUsage: 'optional_per_user',
    backupCodes: { enabled: true, count: 4, warnWhenRemaining: 2 },
    adminsMustUseMfa: true,
  },
];

it('keeps every acknowledged write, and opens, in every state a power cut can leave', async () => {
  const root = await mkdtemp(join(SCRATCH, 'sparekey-power-'));
  const scratch = await mkdtemp(join(SCRATCH, 'sparekey-crash-'));
  try {
    const { points, facts, sets } = await workload(root);
    // Identical states at different points are checked once, against the most facts any of them saw.
    const unique = new Map<string, { state: DiskState; acked: number; after: string }>();
    let generated = 0;
    points.forEach((point, n) => {
      for (const state of crashStates(point, n + 1, STATES_PER_POINT)) {
        generated++;
        const seen = unique.get(state.key);
        if (!seen || seen.acked < point.acked)
          unique.set(state.key, { state, acked: point.acked, after: point.after });
      }
    });
    let checked = 0;
    for (const { state, acked, after } of unique.values()) {
      const dir = join(scratch, String(checked));
      try {
        await writeDiskState(state, dir);
        await check(dir, facts, acked, sets);
      } catch (error) {
        const files = [...state.entries].map(
          ([path, data]) =>
            `  ${path}${data ? ` (${data.length} B)` : '/'}${process.env.POWER_LOSS_DUMP && data && path.startsWith('index') ? `\n${data.toString('utf8')}` : ''}`,
        );
        throw new Error(
          `crash after "${after}" (${acked} writes acknowledged: ${facts
            .slice(0, acked)
            .map((fact) => fact.kind)
            .join(' ')}):\n${files.join('\n')}\n${String(error)}`,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      checked++;
    }
    console.log(
      `power-loss: ${checked} distinct crash states checked (${generated} generated at ${points.length} crash points, ${facts.length} acknowledged writes)`,
    );
    expect(checked).toBeGreaterThan(200);
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}, 300_000);
