/**
 * Health for load balancers and orchestrators, answered to anyone (nothing here names an account):
 *   /healthz/live   the process answers (no store call): restart it when this fails
 *   /healthz/ready  the instance can serve: it has started, is not draining, and its store answers;
 *                   otherwise 503 with Retry-After, so traffic goes to another instance
 *   /healthz        the store answers, and whether stored accounts are damaged (counted, never named)
 */
import { Hono } from 'hono';
import type { Deps } from '../deps';
import type { AppEnv } from './context';
import { ApiError } from './errors';

/** Where the process is in its life; main.ts moves it along, tests may set it. */
export interface Lifecycle {
  phase: 'starting' | 'serving' | 'draining';
}

/** Seconds a prober waits before asking a starting instance again. */
const STARTING_RETRY_AFTER_S = 1;
/** A draining instance will not come back as it is; its replacement may, after a few seconds. */
const DRAINING_RETRY_AFTER_S = 5;

const notReady: Record<Exclude<Lifecycle['phase'], 'serving'>, () => ApiError> = {
  starting: () =>
    new ApiError(503, 'starting', 'The server is starting.', { retryAfter: STARTING_RETRY_AFTER_S }),
  draining: () =>
    new ApiError(503, 'draining', 'The server is shutting down: send new requests elsewhere.', {
      retryAfter: DRAINING_RETRY_AFTER_S,
    }),
};

export function healthRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.get('/healthz/live', (c) => c.json({ status: 'live' }));
  app.get('/healthz/ready', async (c) => {
    const phase = deps.lifecycle?.phase ?? 'serving';
    if (phase !== 'serving') throw notReady[phase]();
    // A store out of reach throws StoreUnavailableError: the app's error handler answers 503 + Retry-After.
    await deps.store.ping();
    return c.json({ status: 'ready' });
  });
  // Still 200 with damaged accounts: every other account works.
  app.get('/healthz', async (c) => {
    await deps.store.ping();
    const damaged = (await deps.store.listDamaged()).length;
    return c.json(damaged > 0 ? { status: 'degraded', damagedAccounts: damaged } : { status: 'ok' });
  });
  return app;
}
