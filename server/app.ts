/**
 * The app factory: everything the server does, built from its dependencies (store, hasher, clock,
 * security settings, logger), so tests build it with fakes or with the real parts.
 */
import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Deps } from './deps';
import { limitBody as limitBodySize } from './http/body-limit';
import { type AppEnv, nodeBindings, requestMeta } from './http/context';
import { defaultHeaders, withDefaultHeaders } from './http/default-headers';
import { ApiError, accountDamaged, storeDamaged, storeUnavailable } from './http/errors';
import { healthRoutes } from './http/health';
import { admitSignIn, isSignInPath, SIGN_IN_PATHS } from './http/overload';
import { type Logger, silentLogger } from './log';
import { isOidcPath } from './oidc/provider';
import { oidcRoutes } from './oidc/routes';
import { adminRoutes } from './routes/admin';
import { applicationRoutes } from './routes/applications';
import { authRoutes } from './routes/auth';
import { extensionRoutes } from './routes/extension';
import { meRoutes } from './routes/me';
import { webRoutes } from './routes/web';
import { DamagedAccountError, StoreDamagedError, StoreUnavailableError } from './store/types';
import { messagePage } from './web/views/message';

/** Every request body of the API is small; a larger one is refused before it is parsed. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * The status the client got: hono's, or, for an answer written straight on the Node response (the
 * OpenID Connect provider's), the one written there (hono's placeholder for those says 200).
 */
function statusSent(c: Context): number {
  const outgoing = nodeBindings(c)?.outgoing;
  return outgoing?.headersSent ? outgoing.statusCode : c.res.status;
}

export function createApp(deps: Deps, log: Logger = silentLogger) {
  const app = new OpenAPIHono<AppEnv>();

  app.use(async (c, next) => {
    const requestId = randomUUID();
    const started = performance.now();
    c.set('requestId', requestId);
    await next();
    log.info('request', {
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: statusSent(c),
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  });
  app.use(withDefaultHeaders(defaultHeaders(deps.security.https)));
  const limitBody = limitBodySize(MAX_BODY_BYTES, () => {
    throw new ApiError(413, 'payload_too_large', `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
  });
  // The OpenID Connect provider reads its own request bodies (with its own limit) from the Node stream.
  // A sign-in's body is read, under this limit and its own short clock, by admitSignIn below.
  const readsOwnBody = (c: Context) =>
    isOidcPath(c.req.path) || (c.req.method === 'POST' && isSignInPath(c.req.path));
  app.use((c, next) => (readsOwnBody(c) ? next() : limitBody(c, next)));
  app.use(requestMeta(deps));
  const signIn = admitSignIn(deps, limitBody);
  for (const path of SIGN_IN_PATHS) app.use(path, signIn);

  app.route('/', healthRoutes(deps));
  app.route('/', authRoutes(deps));
  app.route('/', meRoutes(deps));
  app.route('/', adminRoutes(deps));
  app.route('/', applicationRoutes(deps));
  app.route('/', oidcRoutes(deps, log));
  app.route('/', webRoutes(deps));
  app.route('/', extensionRoutes(deps, log));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/api/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'SpareKey sync server',
      version: '1.0.0',
      description: 'Admin policy, accounts, MFA sign-in and one-time backup codes.',
    },
  });

  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'No such endpoint.' } }, 404));
  app.onError((thrown, c) => {
    // A person on a web page gets a page; API clients get the JSON error shape.
    const wantsPage = !c.req.path.startsWith('/api/') && (c.req.header('accept') ?? '').includes('text/html');
    // The database is down or out of reach, or this account's record is damaged: a 503, never a 500.
    const error =
      thrown instanceof StoreUnavailableError
        ? storeUnavailable()
        : thrown instanceof DamagedAccountError
          ? accountDamaged()
          : thrown instanceof StoreDamagedError
            ? storeDamaged()
            : thrown;
    if (thrown instanceof StoreDamagedError) {
      log.error('store damaged', { requestId: c.get('requestId'), path: c.req.path, error: thrown.message });
    }
    if (thrown instanceof StoreUnavailableError) {
      log.error('store unavailable', {
        requestId: c.get('requestId'),
        path: c.req.path,
        error: thrown.message,
      });
    }
    if (error instanceof ApiError) {
      if (error.extras.retryAfter) c.header('Retry-After', String(error.extras.retryAfter));
      // A 503 is the server's state (busy, database away), not the person's fault: say so.
      const title = error.status === 503 ? 'Please try again in a moment' : 'Request refused';
      if (wantsPage) return c.html(messagePage(title, error.message), error.status);
      return c.json(error.toBody(), error.status);
    }
    if (error instanceof HTTPException && error.status < 500) {
      // Hono's own refusals: malformed JSON, a missing or unsupported Content-Type.
      const code = error.status === 415 ? 'unsupported_media_type' : 'invalid_request';
      return c.json({ error: { code, message: error.message || 'The request is not valid.' } }, error.status);
    }
    log.error('unhandled', { requestId: c.get('requestId'), path: c.req.path, error: String(error) });
    if (wantsPage) return c.html(messagePage('Something went wrong', 'Please try again in a moment.'), 500);
    return c.json({ error: { code: 'internal_error', message: 'Something went wrong on the server.' } }, 500);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
