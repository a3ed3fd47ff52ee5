/** Prometheus metrics of the real server on the lowdb store (the suite: test/support/metrics-suite.ts). */
import { metricsSuite } from '../support/metrics-suite';

metricsSuite('lowdb', async () => ({}));
