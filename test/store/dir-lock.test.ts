import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DirectoryInUseError, lockDirectory, lockOwner } from '../../server/store/lowdb/dir-lock';
import { tempDir } from './store-fixtures';

// The test runner's parent process: alive for as long as this test runs, and not this process.
const LIVE_PID = process.ppid;

it('refuses a directory held by a live process of this boot, naming it', async () => {
  const dir = await tempDir();
  const release = await lockDirectory(dir);
  const [, bootId] = (await readFile(join(dir, 'server.lock'), 'utf8')).trim().split(' ');
  await release();
  await writeFile(join(dir, 'server.lock'), `${LIVE_PID} ${bootId}\n`);
  expect(await lockOwner(dir)).toBe(LIVE_PID);
  await expect(lockDirectory(dir)).rejects.toBeInstanceOf(DirectoryInUseError);
});

it('takes over a lock a power cut left: its pid is of an earlier boot, even if that pid runs now', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'server.lock'), `${LIVE_PID} 00000000-0000-0000-0000-000000000000\n`);
  expect(await lockOwner(dir)).toBeNull();
  const release = await lockDirectory(dir);
  expect(await lockOwner(dir)).toBe(process.pid);
  await release();
  expect(await lockOwner(dir)).toBeNull();
});
