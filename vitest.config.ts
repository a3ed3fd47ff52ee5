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
          exclude: [...configDefaults.exclude, 'test/postgres/**'],
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
    ],
  },
});
