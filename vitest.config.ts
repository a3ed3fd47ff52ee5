import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // argon2 at OWASP cost and real Chromium are slow on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.{ts,tsx}'],
          exclude: [...configDefaults.exclude, 'test/postgres/**', 'test/policy/**'],
        },
      },
      {
        // Their own project, so the throwaway PostgreSQL cluster starts only when these files run.
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/postgres/**/*.test.ts'],
          globalSetup: ['test/postgres/global-setup.ts'],
        },
      },
      {
        // Machine-wide browser policy files (/etc/chromium, /etc/firefox): every browser started while
        // they exist reads them, so these tests run alone, once every other project has finished, one
        // file at a time.
        extends: true,
        test: {
          name: 'policy',
          include: ['test/policy/**/*.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
