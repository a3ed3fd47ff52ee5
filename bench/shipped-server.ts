/**
 * The server the benchmark measures: the compiled bundle, started the way deploy/sparekey.service
 * starts it, since that is what operators run (the tsx loader of `npm run serve` is a development
 * convenience, and its per-request cost is not the product's). Row 9 compares the two start-ups.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/** node's arguments for the compiled server, as in deploy/sparekey.service's ExecStart. */
export const SHIPPED_SERVER_ARGS = ['--enable-source-maps', 'dist/server/sparekey.js', 'serve'] as const;

/** The command that starts it; `nodeArgs` (such as --cpu-prof) go to node first. */
export function shippedServer(nodeArgs: string[] = []): string[] {
  return [process.execPath, ...nodeArgs, ...SHIPPED_SERVER_ARGS];
}

/** Brings the compiled bundles up to date with the sources (a no-op when they are). */
export function buildShippedServer(): void {
  const built = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-server.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`the server build failed:\n${built.stdout}${built.stderr}`);
}
