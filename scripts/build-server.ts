/**
 * Compiles the server to JavaScript: `npm run build` -> dist/server/*.js (ESM for Node 20, one bundle
 * per command, dependencies left to node_modules, source maps beside them), with the files the
 * server reads at run time copied to the same paths relative to the bundles as they have under
 * server/ (server/runtime-files.ts). Production runs `node dist/server/main.js`: no TypeScript
 * compiler is loaded at run time. Skipped when nothing it is built from changed since the last build.
 */
import { cp, mkdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { buildStamp, filesUnder, inputsHash, removeFilesNotIn } from './build-outputs';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'dist', 'server');

/** Each command's bundle: dist/server/<name>.js. Flat, so every bundle finds the runtime files alike. */
export const ENTRY_POINTS: Record<string, string> = {
  main: 'server/main.ts',
  sparekey: 'server/sparekey.ts',
  admin: 'server/cli/admin.ts',
  'config-check': 'server/cli/config-check.ts',
  'store-check': 'server/cli/store-check.ts',
  'store-backup': 'server/cli/store-backup.ts',
  'store-restore': 'server/cli/store-restore.ts',
  'store-migrate': 'server/store-migrate.ts',
  'store-rekey': 'server/cli/store-rekey.ts',
  'keys-rotate': 'server/keys-rotate.ts',
};

/** What the server reads from disk at run time, by its path under server/ (server/runtime-files.ts). */
export const RUNTIME_FILES = [
  'web/sparekey.css',
  'store/postgres/migrations',
  'store/file-writer-thread.mjs',
];

const OPTIONS = {
  entryPoints: Object.fromEntries(
    Object.entries(ENTRY_POINTS).map(([name, path]) => [name, join(ROOT, path)]),
  ),
  outdir: OUT,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dependencies stay in node_modules (argon2 and pg are native or CommonJS; npm installs them).
  packages: 'external',
  sourcemap: true,
  charset: 'utf8',
  metafile: true,
  logLevel: 'warning',
} satisfies esbuild.BuildOptions;

async function main(): Promise<void> {
  const hash = await inputsHash(ROOT, ['server', 'shared', 'scripts', 'package.json', 'tsconfig.json'], {
    ...OPTIONS,
    entryPoints: ENTRY_POINTS,
    outdir: 'dist/server',
    RUNTIME_FILES,
  });
  const stamp = await buildStamp(join(ROOT, 'dist', '.server.sha256'), hash, [OUT]);
  if (stamp.fresh) {
    console.log(`server up to date -> ${OUT}`);
    return;
  }
  await mkdir(OUT, { recursive: true });
  const result = await esbuild.build(OPTIONS);
  const keep = new Set(Object.keys(result.metafile.outputs).map((output) => resolve(ROOT, output)));
  for (const file of RUNTIME_FILES) {
    const source = join(ROOT, 'server', file);
    await mkdir(dirname(join(OUT, file)), { recursive: true });
    await cp(source, join(OUT, file), { recursive: true });
    for (const copied of await filesUnder(source))
      keep.add(join(OUT, relative(join(ROOT, 'server'), copied)));
  }
  await removeFilesNotIn(OUT, keep);
  await stamp.save();
  console.log(`built server -> ${OUT}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
