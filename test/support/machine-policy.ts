/**
 * Machine-wide browser policy files for the install-by-policy tests (test/policy/): written where
 * Debian's browsers read them, and put back as they were afterwards, even when a test fails. Every
 * browser started on the machine meanwhile reads them, which is why those tests run alone, after all
 * the others (vitest.config.ts, project "policy").
 */
import { access, mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Debian's Chromium reads every JSON file here as machine policy. */
export const CHROMIUM_POLICY_FILE = '/etc/chromium/policies/managed/sparekey-test.json';
/** Debian's Firefox ESR reads its enterprise policies here. */
export const FIREFOX_POLICY_FILE = '/etc/firefox/policies/policies.json';

export interface PolicyFile {
  /** Puts the file (and the folders this created) back as they were: removed, or its old content. */
  restore(): Promise<void>;
}

/** The folders from `dir` up that do not exist yet, deepest first: what restore removes again. */
async function missingFolders(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let at = dir; at !== dirname(at); at = dirname(at)) {
    if (
      await access(at).then(
        () => true,
        () => false,
      )
    )
      break;
    missing.push(at);
  }
  return missing;
}

export async function writePolicyFile(file: string, policy: unknown): Promise<PolicyFile> {
  const before = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  const created = await missingFolders(dirname(file));
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(policy, null, 2)}\n`);
  return {
    async restore() {
      if (before) {
        await writeFile(file, before);
        return;
      }
      await rm(file, { force: true });
      for (const dir of created) await rmdir(dir).catch(() => undefined);
    },
  };
}
