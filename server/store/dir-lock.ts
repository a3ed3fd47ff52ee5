/**
 * One server process per data directory: the store's locks live in memory, so a second process on
 * the same files could spend one backup code twice. A lock file holds the owner's pid; a lock left by
 * a process that no longer runs (a crash, SIGKILL) is taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export class DirectoryInUseError extends Error {
  constructor(dir: string, pid: number) {
    super(`The data directory ${dir} is in use by process ${pid}; one server per DATA_DIR.`);
    this.name = 'DirectoryInUseError';
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else, which still means it runs.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `dir`; resolves with the function that releases it. */
export async function lockDirectory(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, 'server.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
      await handle.close();
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      // Another store in this same process (tests reopening a directory) shares the in-memory locks' fate.
      if (Number.isInteger(owner) && owner !== process.pid && isRunning(owner)) {
        throw new DirectoryInUseError(dir, owner);
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`Could not take the lock of ${dir}.`);
}
