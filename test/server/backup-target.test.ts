/**
 * `store:backup --to FILE` against another local user who prepared the target: a planted
 * `FILE.partial` (theirs, mode 0666) or symlink never receives the archive (password hashes, TOTP
 * secrets, the provider's private keys). The archive is the runner's, mode 0600, or the command
 * refuses where another user could swap it.
 */
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';

/** Another local user: nobody. The test runs as root (the brief's machine), who may chown to it. */
const OTHER_UID = 65534;

let dir: string;
let dataDir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sparekey-backup-target-'));
  dataDir = join(dir, 'data');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A backup of a stopped (empty) store, so the command opens the store itself. */
const backup = (to: string) =>
  runCli('store-backup', ['--to', to, '--unencrypted'], { env: { DATA_DIR: dataDir, DATABASE_URL: '' } });

async function expectPrivateArchive(path: string) {
  const archive = await lstat(path);
  expect(archive.isFile()).toBe(true);
  expect(archive.mode & 0o777).toBe(0o600);
  expect(archive.uid).toBe(process.getuid?.());
  // It is a complete archive: a restore's check reads it back.
  expect(
    (await runCli('store-restore', ['--from', path, '--to', join(dir, `restored-${Date.now()}`)])).code,
  ).toBe(0);
}

describe('store:backup --to FILE with a target another user prepared', () => {
  it('a planted FILE.partial of another user (mode 0666) is not reused: the archive is ours and 0600', async () => {
    const target = await mkdtemp(join(dir, 'own-'));
    const to = join(target, 'sparekey.backup');
    await writeFile(`${to}.partial`, 'theirs\n', { mode: 0o666 });
    await chmod(`${to}.partial`, 0o666);
    await chown(`${to}.partial`, OTHER_UID, OTHER_UID);
    const result = await backup(to);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    await expectPrivateArchive(to);
    expect(await readFile(`${to}.partial`, 'utf8')).toBe('theirs\n');
  });

  it('a planted symlink, as FILE.partial or as FILE, is replaced, never written through', async () => {
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n');
    for (const planted of ['sparekey.backup.partial', 'sparekey.backup']) {
      const target = await mkdtemp(join(dir, 'link-'));
      const to = join(target, 'sparekey.backup');
      await symlink(victim, join(target, planted));
      const result = await backup(to);
      expect(result.code, result.stderr).toBe(0);
      await expectPrivateArchive(to);
      expect(await readFile(victim, 'utf8')).toBe('precious\n');
    }
  });

  it('refuses a directory other users can write to, unless sticky with no file of theirs at the name', async () => {
    const shared = join(dir, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o777);
    const refused = await backup(join(shared, 'sparekey.backup'));
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/other users can write to that directory \(mode 0777\)/);
    expect(await readdir(shared)).toEqual([]);

    const sticky = join(dir, 'sticky');
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    await expect(backup(join(sticky, 'ours.backup'))).resolves.toMatchObject({ code: 0 });
    await expectPrivateArchive(join(sticky, 'ours.backup'));
    const theirs = join(sticky, 'theirs.backup');
    await writeFile(theirs, 'theirs\n');
    await chown(theirs, OTHER_UID, OTHER_UID);
    const taken = await backup(theirs);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/a file of another user already has that name/);
    expect(await readFile(theirs, 'utf8')).toBe('theirs\n');
  });
});
