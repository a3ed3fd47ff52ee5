// @ts-check
/**
 * Mutation testing of the security core (`npm run test:mutation`, the last step of `npm test`).
 * How it runs, what the incremental file is and how to read the report: docs/TESTING.md, "Mutation testing of the security core".
 */

/** The modules whose every behaviour a test must pin. The one list: add a module here and nowhere else. */
export const SECURITY_CORE = [
  'shared/codes.ts',
  'server/crypto/totp.ts',
  'server/crypto/sealing.ts',
  'server/services/auth.ts',
  'server/services/backup-codes.ts',
  'server/services/mfa-policy.ts',
  'server/services/password-rules.ts',
  'server/services/passwords.ts',
  'server/services/sessions.ts',
  'server/services/throttle.ts',
  'server/services/users.ts',
  'extension/src/autofill/detect.ts',
  'extension/src/autofill/sender.ts',
  'extension/src/autofill/trigger.ts',
  'extension/src/autofill/visibility.ts',
  'extension/src/vault/crypto.ts',
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: SECURITY_CORE,
  testRunner: 'vitest',
  // Each mutant runs only the tests that reached it in the first run. (vitest's `related` would search the
  // import graph again for every mutant: several times slower for nothing.)
  coverageAnalysis: 'perTest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  // The CI machine has 2 cores.
  concurrency: 2,
  // Results of unchanged mutants and tests are reused from the committed file: only what changed is re-tested.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  thresholds: { high: 95, low: 90, break: 90 },
  reporters: ['clear-text', 'progress', 'html'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  clearTextReporter: {
    allowColor: false,
    logTests: false,
    reportTests: false,
    reportScoreTable: true,
    reportMutants: true,
  },
  // Under a loaded machine a slow test is not a killed mutant: leave generous room before calling a timeout.
  timeoutFactor: 2,
  timeoutMS: 10_000,
  // The first run of every fast test, with coverage: about a minute alone, far more on a busy machine.
  dryRunTimeoutMinutes: 30,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
