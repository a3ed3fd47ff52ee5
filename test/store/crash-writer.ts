/**
 * Child process of crash.test.ts: writes to a store as fast as it can and prints a line to stdout
 * after each acknowledged write, until the test kills it with SIGKILL.
 * Usage: node --import tsx test/store/crash-writer.ts <dataDir> <cycle>
 */
import { randomUUID } from 'node:crypto';
import { LowdbStore } from '../../server/store/lowdb';
import { OPEN_LOCKOUT } from '../../server/store/records';
import type { UserRecord } from '../../server/store/types';

const [dataDir, cycle] = process.argv.slice(2);
if (!dataDir || !cycle) throw new Error('usage: crash-writer.ts <dataDir> <cycle>');

const COUNTERS = 4;

function counterUser(n: number): UserRecord {
  return {
    id: `counter-${n}`,
    username: `counter${n}`,
    role: 'user',
    passwordHash: 'x',
    createdAt: new Date().toISOString(),
    mfa: { type: 'totp', secret: null, enrolled: true, configureLater: false, lastStep: 0 },
    backupCodes: null,
    passwordLockout: OPEN_LOCKOUT,
    mfaLockout: OPEN_LOCKOUT,
  };
}

const say = (line: string) => process.stdout.write(`${line}\n`);

const store = new LowdbStore(dataDir, { indexCompactAfter: 8 });
await store.open();
for (let n = 0; n < COUNTERS; n++) {
  if (!(await store.getUser(`counter-${n}`))) await store.createUser(counterUser(n));
}
say('ready');

// Each loop writes one thing at a time, so at most one write per loop is in flight when killed.
const counterLoop = async (n: number) => {
  for (;;) {
    const step = await store.updateUser(`counter-${n}`, (user) => {
      const next = (user.mfa.lastStep ?? 0) + 1;
      return { user: { ...user, mfa: { ...user.mfa, lastStep: next } }, result: next };
    });
    say(`counter ${n} ${step}`);
  }
};
const createLoop = async () => {
  for (let i = 0; ; i++) {
    const user = { ...counterUser(0), id: randomUUID(), username: `c${cycle}u${i}` };
    await store.createUser(user);
    say(`created ${user.id} ${user.username}`);
    // Delete every third one again, so the journal holds both kinds of change.
    if (i % 3 === 2) {
      await store.deleteUser(user.id);
      say(`deleted ${user.id}`);
    }
  }
};
const auditLoop = async () => {
  for (;;) {
    const event = await store.appendAudit({
      at: new Date().toISOString(),
      type: 'mfa_succeeded',
      actor: null,
      subject: null,
      ip: null,
      userAgent: 'crash-writer',
    });
    say(`audit ${event.id}`);
  }
};
const tokenLoop = async () => {
  for (;;) {
    const hash = randomUUID().replaceAll('-', '');
    const now = new Date().toISOString();
    await store.putToken({
      hash,
      kind: 'mfa',
      userId: 'counter-0',
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now,
    });
    say(`token ${hash}`);
    if (await store.takeToken(hash)) say(`taken ${hash}`);
  }
};

await Promise.all([
  ...Array.from({ length: COUNTERS }, (_, n) => counterLoop(n)),
  createLoop(),
  auditLoop(),
  tokenLoop(),
]);
