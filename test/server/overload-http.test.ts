/**
 * Overload shedding in the real server process, over HTTP, with real argon2id: a burst of sign-ins is
 * judged as far as the queue keeps up and shed beyond it, and the metrics count what was shed and held.
 * (test/server/overload.test.ts pins each rule through the app with a held queue.)
 */
import { describe, expect, it } from 'vitest';
import { metricsUrlOf, scrape, value } from '../support/metrics-suite';
import { call, startServer } from '../support/server';

describe('a burst of sign-ins over HTTP against the real server', () => {
  it('is judged as far as argon2id keeps up and shed beyond it; a client asking again at once is held, and counted', async () => {
    // The smallest queue wait the server takes: a few hashes fill it.
    const server = await startServer({ env: { ARGON2_QUEUE_MAX_WAIT_MS: '100', METRICS_PORT: '0' } });
    try {
      const metricsUrl = metricsUrlOf(server);
      const burst = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          call(server.url, 'POST', '/api/auth/login', {
            body: { username: `nobody-${i}`, password: 'wrong-password' },
          }),
        ),
      );
      const statuses = burst.map((res) => res.status);
      const shed = statuses.filter((status) => status === 503).length;
      expect(statuses.filter((status) => status !== 503).every((status) => status === 401)).toBe(true);
      expect(shed).toBeGreaterThan(0);
      expect(shed).toBeLessThan(30);
      for (const res of burst.filter((r) => r.status === 503)) expect(res.body.error.code).toBe('overloaded');
      // Every client here is 127.0.0.1, told after its first 503 to wait: the 503s after it were held.
      const { metrics } = await scrape(metricsUrl);
      expect(value(metrics, 'sparekey_sign_ins_shed_total')).toBe(shed);
      expect(value(metrics, 'sparekey_sign_ins_shed_held_total')).toBe(shed - 1);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
