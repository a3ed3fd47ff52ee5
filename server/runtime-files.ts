/**
 * Files the server reads at run time (the stylesheet, the SQL migrations), named by their path under
 * `server/`. The same path works from the TypeScript sources (this file is in `server/`) and from the
 * compiled bundles in `dist/server/`, where the build copies each of them to the same relative path
 * (`scripts/build-server.ts`, RUNTIME_FILES). Keep this module in `server/` itself: the path is relative to it.
 */
import { join } from 'node:path';

export function runtimeFile(pathUnderServer: string): string {
  return join(import.meta.dirname, pathUnderServer);
}
