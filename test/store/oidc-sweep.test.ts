/**
 * The lowdb sweep of expired provider records reads the records that expired, not every record: a
 * store holding many live records (or flooded with short-lived ones) sweeps at the cost of what it
 * removes. Real files in a temp directory; the store's StoreFs is wrapped to count record reads.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFs, type StoreFs } from '../../server/store/fs';
import { LowdbOidcStore } from '../../server/store/lowdb/oidc';
import { EXPIRY_BUCKET_MS } from '../../server/store/lowdb/oidc-expiry';
import { tempDir } from './store-fixtures';

const MINUTE = 60_000;

/** A store over node's fs that notes every record file it reads. */
async function countingStore(dir: string) {
  const reads: string[] = [];
  const fs: StoreFs = {
    ...nodeFs,
    readFile: (path, encoding) => {
      if (path.includes(`${join('oidc', 'records')}/`)) reads.push(path);
      return nodeFs.readFile(path, encoding);
    },
  };
  const store = new LowdbOidcStore(dir, fs);
  await store.open();
  return { store, reads };
}

async function fill(store: LowdbOidcStore, now: number) {
  for (let i = 0; i < 200; i++) {
    await store.oidcPut('Session', `live-${i}`, { uid: `live-${i}`, accountId: 'a' }, now + 12 * 60 * MINUTE);
  }
  for (let i = 0; i < 5; i++) {
    await store.oidcPut('Session', `short-${i}`, { uid: `short-${i}` }, now + MINUTE);
  }
}

describe('sweeping expired provider records (lowdb)', () => {
  it('reads only the records that expired, removes them and their uid pointers, keeps the live ones', async () => {
    const dir = await tempDir();
    const { store, reads } = await countingStore(dir);
    const now = Date.now();
    await fill(store, now);
    reads.length = 0;

    // Nothing has expired yet: nothing is read.
    expect(await store.sweepExpired(now)).toBe(0);
    expect(reads).toHaveLength(0);

    // Once the short ones' bucket has passed: exactly those five are read and removed.
    const later = now + MINUTE + EXPIRY_BUCKET_MS;
    expect(await store.sweepExpired(later)).toBe(5);
    expect(reads.length).toBeLessThanOrEqual(5);
    expect(await readdir(join(dir, 'oidc', 'records'))).toHaveLength(200);
    expect(await readdir(join(dir, 'oidc', 'by-uid'))).toHaveLength(200);
    expect(await store.oidcFindByUid('Session', 'short-0')).toBeNull();
    expect(await store.oidcFindByUid('Session', 'live-0')).toMatchObject({ accountId: 'a' });

    // A second sweep has nothing left to read.
    reads.length = 0;
    expect(await store.sweepExpired(later)).toBe(0);
    expect(reads).toHaveLength(0);
    await store.close();
  });

  it('a record written again with a later expiry stays, though its first expiry was listed', async () => {
    const dir = await tempDir();
    const { store } = await countingStore(dir);
    const now = Date.now();
    await store.oidcPut('Session', 'extended', { uid: 'x' }, now + MINUTE);
    await store.oidcPut('Session', 'extended', { uid: 'x', accountId: 'a' }, now + 12 * 60 * MINUTE);
    expect(await store.sweepExpired(now + MINUTE + EXPIRY_BUCKET_MS)).toBe(0);
    expect(await store.oidcGet('Session', 'extended')).toMatchObject({ accountId: 'a' });
    await store.close();
  });

  it('a store written before the expiry index gets one sweep that reads every record, then no more', async () => {
    const dir = await tempDir();
    const first = await countingStore(dir);
    const now = Date.now();
    await fill(first.store, now);
    await first.store.close();
    // What an earlier version left: the records, no index.
    await rm(join(dir, 'oidc', 'expiry'), { recursive: true });

    const { store, reads } = await countingStore(dir);
    const later = now + MINUTE + EXPIRY_BUCKET_MS;
    expect(await store.sweepExpired(later)).toBe(5);
    expect(reads.length).toBeGreaterThanOrEqual(205);
    expect(await readdir(join(dir, 'oidc', 'records'))).toHaveLength(200);
    await store.close();

    // Reopened: the live records are indexed now; sweeping when they expire reads only them.
    const again = await countingStore(dir);
    again.reads.length = 0;
    expect(await again.store.sweepExpired(later)).toBe(0);
    expect(again.reads).toHaveLength(0);
    expect(await again.store.sweepExpired(now + 12 * 60 * MINUTE + EXPIRY_BUCKET_MS)).toBe(200);
    expect(await readdir(join(dir, 'oidc', 'records'))).toHaveLength(0);
    await again.store.close();
  });

  it('a grant whose records all expired or were destroyed leaves no member list behind', async () => {
    const dir = await tempDir();
    const { store } = await countingStore(dir);
    const now = Date.now();
    const grants = () => readdir(join(dir, 'oidc', 'grants'));
    await store.oidcPut('AccessToken', 'at-1', { grantId: 'g1' }, now + MINUTE);
    await store.oidcPut('RefreshToken', 'rt-1', { grantId: 'g1' }, now + 12 * 60 * MINUTE);
    await store.oidcPut('AccessToken', 'at-2', { grantId: 'g2' }, now + MINUTE);
    expect(await grants()).toHaveLength(2);

    // g1 keeps its refresh token; g2 had only the access token that expired.
    expect(await store.sweepExpired(now + MINUTE + EXPIRY_BUCKET_MS)).toBe(2);
    expect(await grants()).toHaveLength(1);
    // What is left of g1 is still revoked as a whole.
    await store.oidcDestroy('RefreshToken', 'rt-1');
    expect(await grants()).toHaveLength(0);

    await store.oidcPut('AccessToken', 'at-3', { grantId: 'g3' }, now + MINUTE);
    await store.oidcPut('RefreshToken', 'rt-3', { grantId: 'g3' }, now + 12 * 60 * MINUTE);
    await store.oidcRevokeByGrantId('g3');
    expect(await grants()).toHaveLength(0);
    expect(await store.oidcGet('RefreshToken', 'rt-3')).toBeNull();
    await store.close();
  });

  it('a grant revoked while its records are swept: both finish, nothing is left', async () => {
    const dir = await tempDir();
    const { store } = await countingStore(dir);
    const now = Date.now();
    for (let i = 0; i < 20; i++)
      await store.oidcPut('AccessToken', `at-${i}`, { grantId: 'g' }, now + MINUTE);
    await Promise.all([store.sweepExpired(now + MINUTE + EXPIRY_BUCKET_MS), store.oidcRevokeByGrantId('g')]);
    expect(await readdir(join(dir, 'oidc', 'grants'))).toHaveLength(0);
    expect(await readdir(join(dir, 'oidc', 'records'))).toHaveLength(0);
    await store.close();
  });
});
