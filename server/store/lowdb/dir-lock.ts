/**
 * One server process per data directory: the store's locks live in memory, so a second process on
 * the same files could spend one backup code twice. A lock file holds the owner's pid; a lock left by
 * a process that no longer runs (a crash, SIGKILL, a power cut) is taken over.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMissing, nodeFs, type StoreFs } from '../fs';

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

/**
 * Linux's id of this boot. A lock left by a power cut names a pid of the previous boot, which may
 * now belong to an unrelated process: with the boot id in the lock, that lock is known stale.
 */
const BOOT_ID = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
})();

/** The pid of the live process holding `dir`'s lock, or null when nobody does. */
export async function lockOwner(dir: string, fs: StoreFs = nodeFs): Promise<number | null> {
  const text = await fs.readFile(join(dir, 'server.lock'), 'utf8').catch(() => '');
  const [pidText, bootId] = text.trim().split(/\s+/);
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  // Written before the boot id was: only the pid can tell.
  if (bootId !== undefined && bootId !== BOOT_ID) return null;
  return isRunning(pid) ? pid : null;
}

/** Takes the lock of `dir`; resolves with the function that releases it. */
export async function lockDirectory(dir: string, fs: StoreFs = nodeFs): Promise<() => Promise<void>> {
  const file = join(dir, 'server.lock');
  const remove = () =>
    fs.unlink(file).catch((error) => (isMissing(error) ? undefined : Promise.reject(error)));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await fs.open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid} ${BOOT_ID}\n`, 'utf8');
      await handle.sync();
      await handle.close();
      return remove;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = await lockOwner(dir, fs);
      // Another store in this same process (tests reopening a directory) shares the in-memory locks' fate.
      if (owner !== null && owner !== process.pid) throw new DirectoryInUseError(dir, owner);
      await remove();
    }
  }
  throw new Error(`Could not take the lock of ${dir}.`);
}
