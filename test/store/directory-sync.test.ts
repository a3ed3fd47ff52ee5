/**
 * syncDirectory shares one directory fsync among concurrent callers (group commit), and never
 * resolves a caller before an fsync that started after its call has finished.
 */
import { describe, expect, it } from 'vitest';
import { nodeFs, type StoreFileHandle, type StoreFs, syncDirectory } from '../../server/store/fs';

/** A file system whose directory fsyncs wait to be released one by one, logging what happens. */
function heldSyncs() {
  const events: string[] = [];
  const waiting: (() => void)[] = [];
  let started = 0;
  const fs: StoreFs = {
    ...nodeFs,
    open: async (path) => {
      const handle: Partial<StoreFileHandle> = {
        sync: () => {
          const n = ++started;
          events.push(`fsync ${n} of ${path} starts`);
          return new Promise<void>((done) =>
            waiting.push(() => {
              events.push(`fsync ${n} of ${path} ends`);
              done();
            }),
          );
        },
        close: async () => {},
      };
      return handle as StoreFileHandle;
    },
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 5));
  const releaseNext = async () => {
    await settle();
    waiting.shift()?.();
    await settle();
  };
  return { fs, events, releaseNext, started: () => started };
}

describe('syncDirectory', () => {
  it('callers arriving during an fsync share the next one, which starts after it and covers them all', async () => {
    const { fs, events, releaseNext, started } = heldSyncs();
    const resolved: string[] = [];
    const call = (name: string) => syncDirectory(fs, '/d').then(() => resolved.push(name));
    const first = call('first');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const during = ['a', 'b', 'c', 'd'].map(call);
    await releaseNext();
    // The first is answered by its own fsync; the four who came during it wait for one more.
    expect(resolved).toEqual(['first']);
    expect(started()).toBe(2);
    const late = call('late');
    await releaseNext();
    expect(resolved).toEqual(['first', 'a', 'b', 'c', 'd']);
    // It came while the second ran, so a third covers it.
    await releaseNext();
    await Promise.all([first, ...during, late]);
    expect(resolved.at(-1)).toBe('late');
    expect(events).toEqual([
      'fsync 1 of /d starts',
      'fsync 1 of /d ends',
      'fsync 2 of /d starts',
      'fsync 2 of /d ends',
      'fsync 3 of /d starts',
      'fsync 3 of /d ends',
    ]);
  });

  it('keeps directories apart, and a failed fsync fails only the callers it covered', async () => {
    let failNext = true;
    const synced: string[] = [];
    const fs: StoreFs = {
      ...nodeFs,
      open: async (path) =>
        ({
          sync: async () => {
            synced.push(path);
            if (failNext) {
              failNext = false;
              throw new Error('EIO');
            }
          },
          close: async () => {},
        }) as Partial<StoreFileHandle> as StoreFileHandle,
    };
    const [x, y] = await Promise.allSettled([syncDirectory(fs, '/x'), syncDirectory(fs, '/y')]);
    expect(x.status).toBe('rejected');
    expect(y.status).toBe('fulfilled');
    await expect(syncDirectory(fs, '/x')).resolves.toBeUndefined();
    expect(synced).toEqual(['/x', '/y', '/x']);
  });
});
