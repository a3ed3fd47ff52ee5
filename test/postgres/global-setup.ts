/**
 * Starts one throwaway PostgreSQL cluster for the test files of test/postgres (each creates its own
 * database in it, so files run in parallel) and stops it at the end. Where PostgreSQL is missing
 * the tests fail with the command that installs it: they are never skipped.
 */
import type { TestProject } from 'vitest/node';
import { type PgCluster, startCluster } from '../support/pg-cluster';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The superuser URL of the test cluster, or null when it could not start. */
    pgAdminUrl: string | null;
    /** Why there is no cluster (PostgreSQL not installed, initdb failed). */
    pgProblem: string | null;
  }
}

export default async function setup(project: TestProject) {
  let cluster: PgCluster;
  try {
    cluster = await startCluster();
  } catch (error) {
    project.provide('pgAdminUrl', null);
    project.provide('pgProblem', error instanceof Error ? error.message : String(error));
    return;
  }
  project.provide('pgAdminUrl', cluster.url());
  project.provide('pgProblem', null);
  return () => cluster.destroy();
}
