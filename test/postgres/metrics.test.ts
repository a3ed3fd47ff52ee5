/** Prometheus metrics of the real server on the PostgreSQL store (the suite: test/support/metrics-suite.ts). */
import { metricsSuite } from '../support/metrics-suite';
import { createDatabase } from './databases';
import { postgresEnv } from './servers';

metricsSuite('PostgreSQL', async () => postgresEnv(await createDatabase('metrics')));
