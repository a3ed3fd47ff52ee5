/**
 * The tests Stryker runs against each mutant: the fast, in-process ones only. Left out: the real server
 * process (test/server/http.test.ts, tls.test.ts), Chromium (test/e2e), the crash and fuzz suites and the
 * store's own tests, which cover none of the mutated modules and would make a run take hours on 2 cores.
 */
import { defineConfig } from 'vitest/config';
import base from './vitest.config';

export default defineConfig({
  test: {
    ...base.test,
    include: ['test/unit/**/*.test.{ts,tsx}', 'test/server/**/*.test.ts', 'test/ext/**/*.test.{ts,tsx}'],
    exclude: [
      'test/server/http.test.ts',
      'test/server/tls.test.ts',
      // Its findBy waits (1 s) race a 600,000-iteration PBKDF2 and fail on a loaded machine; the vault's
      // cryptography is pinned by test/unit/vault.test.ts.
      'test/ext/autofill-popup.test.tsx',
      // Reads the extension's source text, which Stryker's instrumentation rewrites.
      'test/ext/source-safety.test.ts',
    ],
  },
});
