/**
 * `sparekey store rekey` on lowdb, cut by a power loss at every file-system call (the harness of
 * ./power-loss.test.ts): every disk state a cut can leave opens with the old key or with the new key
 * alone, every acknowledged TOTP secret and the key set read back as they were, and running the
 * rekey again finishes it (the store then opens with the new key alone).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { newStorageKey, type StorageKey } from '../../../server/crypto/sealing';
import { newTotpSecret } from '../../../server/crypto/totp';
import { ensureKeys } from '../../../server/oidc/keys';
import { LowdbStore } from '../../../server/store/lowdb';
import { StorageKeyMismatchError } from '../../../server/store/secrets';
import { makeUser } from '../store-fixtures';
import { crashStates, type DiskState, writeDiskState } from './crash-states';
import { RecordingFs } from './recording-fs';

const STATES_PER_POINT = 12;
const SCRATCH = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const OLD = newStorageKey();
const NEW = newStorageKey();

const keyed = (current: StorageKey, previous: StorageKey | null = null) => ({
  storageKeys: { current, previous },
});

/** A store under the old key (three TOTP users, a key set), then rekeyed, all over the recorder. */
async function workload(root: string) {
  const fs = new RecordingFs(root);
  const secrets = new Map<string, string>();
  let acked = 0;
  const ack = () => expect(fs.ack()).toBe(++acked);
  const store = new LowdbStore(root, { fs, ...keyed(OLD) });
  await store.open();
  for (const name of ['ann', 'ben', 'cat']) {
    const secret = newTotpSecret();
    const user = makeUser(name, {
      mfa: { type: 'totp', secret, enrolled: true, configureLater: false, lastStep: null },
    });
    await store.createUser(user);
    secrets.set(user.id, secret);
    ack();
  }
  const kid = (await ensureKeys(store)).signing[0]?.kid;
  ack();
  await store.close();
  const rekeyStart = fs.points.length;
  const rekeying = new LowdbStore(root, { fs, ...keyed(NEW, OLD) });
  await rekeying.open();
  await rekeying.rekey(NEW, OLD);
  await rekeying.close();
  return { points: fs.points, secrets, kid, rekeyStart };
}

/** Opens with `key` alone; null when the store says the key does not match. */
async function openWith(dir: string, key: StorageKey): Promise<LowdbStore | null> {
  const store = new LowdbStore(dir, keyed(key));
  try {
    await store.open();
    return store;
  } catch (error) {
    if (error instanceof StorageKeyMismatchError) return null;
    throw error;
  }
}

async function expectWhole(store: LowdbStore, secrets: Map<string, string>, acked: number, kid?: string) {
  try {
    // The first `acked` users were acknowledged: each reads back with its own secret.
    for (const [id, secret] of [...secrets].slice(0, Math.min(acked, secrets.size))) {
      expect((await store.getUser(id))?.mfa.secret).toBe(secret);
    }
    if (acked > secrets.size) expect((await store.getOidcKeys())?.signing[0]?.kid).toBe(kid);
    expect(await store.listDamaged()).toEqual([]);
  } finally {
    await store.close();
  }
}

it('a rekey cut at any write leaves a store that opens with the old or the new key, and can be run again', async () => {
  const root = await mkdtemp(join(SCRATCH, 'sparekey-rekey-'));
  const scratch = await mkdtemp(join(SCRATCH, 'sparekey-rekey-crash-'));
  try {
    const { points, secrets, kid, rekeyStart } = await workload(root);
    const unique = new Map<string, { state: DiskState; acked: number; during: boolean }>();
    points.forEach((point, n) => {
      for (const state of crashStates(point, n + 1, STATES_PER_POINT)) {
        const seen = unique.get(state.key);
        if (!seen || seen.acked < point.acked)
          unique.set(state.key, { state, acked: point.acked, during: n >= rekeyStart });
      }
    });
    let checked = 0;
    const opened = { old: 0, new: 0 };
    for (const { state, acked, during } of unique.values()) {
      const dir = join(scratch, String(checked));
      try {
        await writeDiskState(state, dir);
        const withOld = await openWith(dir, OLD);
        if (withOld) {
          opened.old++;
          await expectWhole(withOld, secrets, acked, kid);
        } else {
          expect(during, 'a store before the rekey refused the old key').toBe(true);
          const withNew = await openWith(dir, NEW);
          expect(withNew, 'neither the old nor the new key opens the store').not.toBeNull();
          opened.new++;
          await expectWhole(withNew as LowdbStore, secrets, acked, kid);
        }
        if (during) {
          // Run again: it finishes, and the new key alone opens the store.
          const again = new LowdbStore(dir, keyed(NEW, OLD));
          await again.open();
          await again.rekey(NEW, OLD);
          await again.close();
          await expectWhole((await openWith(dir, NEW)) as LowdbStore, secrets, acked, kid);
          expect(await openWith(dir, OLD)).toBeNull();
        }
      } catch (error) {
        throw new Error(
          `crash state ${checked} (${acked} acknowledged, during the rekey: ${during}): ${error}`,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      checked++;
    }
    console.log(
      `rekey power-loss: ${checked} crash states; opened with the old key ${opened.old}, the new ${opened.new}`,
    );
    expect(opened.old).toBeGreaterThan(0);
    expect(opened.new).toBeGreaterThan(0);
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}, 300_000);
