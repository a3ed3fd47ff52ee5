import { createRoute } from '@hono/zod-openapi';
import { EnrollRequest, LoginRequest, LoginResponse, MfaRequest, SessionResponse } from '../../shared/api';
import type { Deps } from '../deps';
import { requireUser } from '../http/context';
import { bearer, errors, json, jsonBody, routeGroup } from '../http/openapi';
import { forSignIn } from '../http/overload';
import { enroll, login, signOut, verifyMfa } from '../services/auth';

const loginRoute = createRoute({
  method: 'post',
  path: '/api/auth/login',
  tags: ['Sign-in'],
  summary: 'Check username and password; say which MFA step, if any, follows',
  request: jsonBody(LoginRequest),
  responses: {
    200: json(LoginResponse, 'Signed in, or the MFA step to take'),
    ...errors(400, 401, 408, 413, 429, 503),
  },
});

const mfaRoute = createRoute({
  method: 'post',
  path: '/api/auth/mfa',
  tags: ['Sign-in'],
  summary: 'Pass the MFA step with an authenticator code or a backup code (each backup code works once)',
  request: jsonBody(MfaRequest),
  responses: { 200: json(SessionResponse, 'Signed in'), ...errors(400, 401, 408, 409, 413, 429, 503) },
});

const enrollRoute = createRoute({
  method: 'post',
  path: '/api/auth/enroll',
  tags: ['Sign-in'],
  summary: 'Prove the new authenticator with its first code; only then is it stored',
  request: jsonBody(EnrollRequest),
  responses: {
    200: json(SessionResponse, 'Enrolled and signed in'),
    ...errors(400, 401, 408, 413, 429, 503),
  },
});

const logoutRoute = createRoute({
  method: 'post',
  path: '/api/auth/logout',
  tags: ['Sign-in'],
  summary: 'End this session: the token stops working',
  security: bearer,
  responses: { 204: { description: 'Signed out' }, ...errors(401) },
});

export function authRoutes(deps: Deps) {
  const app = routeGroup();
  // A sign-in's argon2id goes before other work's (crypto/hash-queue.ts).
  const signIn = forSignIn(deps);
  app.openapi(loginRoute, async (c) => c.json(await login(signIn, c.get('meta'), c.req.valid('json')), 200));
  app.openapi(mfaRoute, async (c) =>
    c.json(await verifyMfa(signIn, c.get('meta'), c.req.valid('json')), 200),
  );
  app.openapi(enrollRoute, async (c) =>
    c.json(await enroll(signIn, c.get('meta'), c.req.valid('json')), 200),
  );
  app.use(logoutRoute.path, requireUser(deps));
  app.openapi(logoutRoute, async (c) => {
    await signOut(deps, c.get('meta'), c.get('token'));
    return c.body(null, 204);
  });
  return app;
}
