/**
 * Files holding secrets that the server and its commands write outside the store's records: a
 * backup archive, the generated first admin password. A file another local user planted where we
 * write (a `.partial` of mode 0666, one of theirs, or a symlink to a file of ours) must never receive
 * the secret, so each is created exclusively (O_EXCL, O_NOFOLLOW) under a random name beside its
 * target, given mode 0600, written, fsynced and renamed into place (rename replaces a planted file or
 * symlink at the target, never writes through it); then the directory is fsynced.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, link, lstat, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { nodeFs, syncDirectory } from './fs';

export class UnsafeSecretTargetError extends Error {}

/** S_ISVTX: in a sticky directory only a file's owner may rename or delete it. */
const STICKY = 0o1000;
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * Refuses a target whose directory another user may write to: they could swap the file after we
 * wrote it. A sticky directory (such as /tmp) is accepted, since there nobody can rename or delete a
 * file of ours, as long as the target is not already someone else's.
 */
export async function checkSecretTarget(path: string): Promise<void> {
  const dir = dirname(path);
  const { mode } = await stat(dir);
  if ((mode & 0o022) === 0) return;
  if ((mode & STICKY) === 0) {
    throw new UnsafeSecretTargetError(
      `Refusing to write ${basename(path)} into ${dir}: other users can write to that directory (mode ${octal(mode)}) and could replace the file; use a directory only you can write to (chmod go-w ${dir}).`,
    );
  }
  const existing = await lstat(path).catch(() => null);
  if (existing && existing.uid !== process.getuid?.()) {
    throw new UnsafeSecretTargetError(
      `Refusing to write ${path}: a file of another user already has that name in the shared directory ${dir}.`,
    );
  }
}

/**
 * Writes `content` to `path` as described above; on failure the temp file is removed. `exclusive`:
 * the file must not exist yet (a generated key must never replace one): it is linked into place
 * instead of renamed, and an existing target fails with EEXIST.
 */
export async function writeSecretFile(
  path: string,
  content: string | AsyncIterable<Buffer> | Readable,
  options: { exclusive?: boolean } = {},
): Promise<void> {
  await checkSecretTarget(path);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(12).toString('hex')}.partial`);
  let handle: FileHandle | null = null;
  try {
    handle = await open(
      temp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    // The mode given to open is narrowed by the umask only, but say it plainly: owner read/write.
    await handle.chmod(0o600);
    // A handle's writeFile writes all of its data from the current position, however many calls that takes.
    if (typeof content === 'string') await handle.writeFile(content, 'utf8');
    else for await (const chunk of content) await handle.writeFile(chunk as Buffer);
    await handle.sync();
    await handle.close();
    handle = null;
    if (options.exclusive) {
      await link(temp, path).finally(() => unlink(temp));
    } else {
      await rename(temp, path);
    }
    await syncDirectory(nodeFs, dir);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    // Only a file this call created: on EEXIST from open the name belongs to someone else (on EEXIST
    // from link the temp file is already gone).
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(temp).catch(() => undefined);
    throw error;
  }
}
