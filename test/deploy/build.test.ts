/**
 * `npm start` builds what is stale before it serves, and an admin may have loaded dist/chromium as an
 * unpacked extension: a build with unchanged sources leaves the folder alone, and a rebuild writes
 * over the files in the same folder, removing only what no longer belongs. Runs on a test build's
 * own folder (SPAREKEY_E2E_NAME), so the shipped dist/chromium is not touched.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const NAME = 'chromium-e2e-inplace';
const OUT = join(ROOT, 'dist', NAME);
const STAMP = join(ROOT, 'dist', `.${NAME}.sha256`);

function build(): string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'extension/build.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, SPAREKEY_E2E: '1', SPAREKEY_E2E_NAME: NAME },
  });
  if (result.status !== 0) throw new Error(`extension build failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

afterAll(async () => {
  await rm(OUT, { recursive: true, force: true });
  await rm(STAMP, { force: true });
});

it('skips an up-to-date build and rebuilds a stale one in place, in the same folder', async () => {
  await rm(STAMP, { force: true });
  expect(build()).toContain(`built ${NAME}`);
  const folder = statSync(OUT).ino;
  const popup = join(OUT, 'popup.js');
  const builtAt = statSync(popup).mtimeMs;

  expect(build()).toContain(`${NAME} up to date`);
  expect(statSync(popup).mtimeMs).toBe(builtAt);

  // A file an older build left, and sources that changed (their stamp no longer matches).
  await writeFile(join(OUT, 'left-over.js'), '// from an older build\n');
  await writeFile(STAMP, 'stale\n');
  expect(build()).toContain(`built ${NAME}`);
  expect(statSync(OUT).ino).toBe(folder);
  expect(existsSync(join(OUT, 'left-over.js'))).toBe(false);
  expect(existsSync(popup)).toBe(true);
  expect(existsSync(join(OUT, 'manifest.json'))).toBe(true);
  expect(existsSync(join(OUT, '_locales', 'en', 'messages.json'))).toBe(true);
});
