/**
 * The tests Stryker runs against each mutant: the fast, in-process ones only. Left out: the real server
 * process (test/server/http.test.ts, tls.test.ts, proxy.test.ts, oidc-restart.test.ts, last-admin.test.ts,
 * backup.test.ts, store-damage-http.test.ts, admin-cli.test.ts, overload-http.test.ts, extension-packages.test.ts), the
 * extension packer's tests, Chromium (test/e2e) and the install-by-policy tests (test/policy), the crash and fuzz suites and the
 * store's own tests, which cover none of the mutated modules and would make a run take hours on 2 cores.
 */
import { defineConfig } from 'vitest/config';
import base from './vitest.config';

// Not the base config's projects: a project's own include would bring back every suite.
const { projects: _everySuite, ...shared } = base.test ?? {};

/**
 * Files that need a module graph of their own: fakes that replace modules (vi.mock of the browser API),
 * and the password-rule tests, whose common-password list is built once per graph on first use: in a
 * shared graph another file's test would build it, and only that test would count as reaching it.
 */
const OWN_GRAPH = [
  'test/ext/**/*.test.{ts,tsx}',
  'test/unit/autofill-background.test.ts',
  'test/server/passwords.test.ts',
];

export default defineConfig({
  test: {
    ...shared,
    exclude: [
      'test/server/http.test.ts',
      'test/server/tls.test.ts',
      'test/server/proxy.test.ts',
      'test/server/oidc-restart.test.ts',
      'test/server/last-admin.test.ts',
      'test/server/backup.test.ts',
      'test/server/store-damage-http.test.ts',
      'test/server/admin-cli.test.ts',
      'test/server/overload-http.test.ts',
      // The packed extension: real server processes, the packer's builds and Chromium's own packer;
      // none of them reaches the core.
      'test/server/extension-packages.test.ts',
      'test/unit/extension-pack.test.ts',
      'test/unit/extension-package.test.ts',
      // The OpenID provider is not in the core; its sign-in runs through services/auth.ts, which the
      // API and web tests pin, and each of its tests pays for a whole authorization flow.
      'test/server/oidc.test.ts',
      // Its findBy waits (1 s) race a 600,000-iteration PBKDF2 and fail on a loaded machine; the vault's
      // cryptography is pinned by test/unit/vault.test.ts.
      'test/ext/autofill-popup.test.tsx',
      // Reads the extension's source text, which Stryker's instrumentation rewrites.
      'test/ext/source-safety.test.ts',
    ],
    projects: [
      {
        // One module graph for all the files a mutant's tests are in: importing the app (Hono, zod,
        // argon2's binding) once per file was most of a mutant's time. Each mutant run still starts a
        // fresh worker, so a mutant in a module's top-level code is loaded with that mutant active.
        extends: true,
        test: {
          name: 'shared-modules',
          include: ['test/unit/**/*.test.{ts,tsx}', 'test/server/**/*.test.ts'],
          exclude: OWN_GRAPH,
          isolate: false,
        },
      },
      {
        extends: true,
        test: { name: 'own-graph', include: OWN_GRAPH },
      },
    ],
  },
});
