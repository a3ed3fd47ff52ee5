/**
 * What both builds (extension/build.ts, scripts/build-server.ts) share: skip a build whose inputs have
 * not changed since the last one, and replace an output folder's contents in place. An admin may have
 * loaded dist/chromium as an unpacked extension and a server may run from dist/server: the folders
 * stay, files are written over, and only files that no longer belong are removed.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Every file under `path` (itself when it is a file). */
export async function filesUnder(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const nested = await Promise.all(entries.map((entry) => filesUnder(join(path, entry.name))));
  return nested.flat();
}

/** SHA-256 over the names and contents of every file under `inputs`, and `settings` (what else shapes the output). */
export async function inputsHash(root: string, inputs: string[], settings: unknown): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(settings));
  const files = (await Promise.all(inputs.map((input) => filesUnder(join(root, input))))).flat().sort();
  for (const file of files) {
    hash.update(`\0${relative(root, file)}\0`);
    hash.update(await readFile(file));
  }
  return hash.digest('hex');
}

/**
 * The stamp of one output: its inputs' hash, written once the build succeeded. `fresh` is true when
 * the last successful build had the same inputs and its outputs are still there.
 */
export async function buildStamp(stampFile: string, hash: string, outputs: string[]) {
  const previous = await readFile(stampFile, 'utf8').catch(() => '');
  return {
    fresh: previous.trim() === hash && outputs.every((output) => existsSync(output)),
    save: () => writeFile(stampFile, `${hash}\n`),
  };
}

/** Removes every file under `dir` that is not in `keep` (absolute paths), and the folders left empty. */
export async function removeFilesNotIn(dir: string, keep: ReadonlySet<string>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await removeFilesNotIn(path, keep);
      if ((await readdir(path)).length === 0 && !keep.has(path)) await rm(path, { recursive: true });
    } else if (!keep.has(path)) {
      await rm(path, { force: true });
    }
  }
}
