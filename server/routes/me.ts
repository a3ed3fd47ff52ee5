import { createRoute } from '@hono/zod-openapi';
import {
  AuditEvents,
  ChangedPassword,
  ChangePasswordRequest,
  GenerateCodesRequest,
  GeneratedCodes,
  Me,
} from '../../shared/api';
import type { Deps } from '../deps';
import { requireUser } from '../http/context';
import { bearer, errors, json, jsonBody, routeGroup } from '../http/openapi';
import { limitedChange } from '../services/account-limits';
import { publicUser } from '../services/auth';
import { generateBackupCodes } from '../services/backup-codes';
import { backupCodeStatus, mfaEnabled } from '../services/mfa-policy';
import { changePassword } from '../services/passwords';

const meRoute = createRoute({
  method: 'get',
  path: '/api/me',
  tags: ['Account'],
  summary: 'The signed-in user, their MFA state and backup-code status',
  security: bearer,
  responses: { 200: json(Me, 'The account'), ...errors(401) },
});

const generateRoute = createRoute({
  method: 'post',
  path: '/api/me/backup-codes',
  tags: ['Account'],
  summary: 'Generate a new set (password again); the previous set stops working at once',
  security: bearer,
  request: jsonBody(GenerateCodesRequest),
  responses: {
    201: json(GeneratedCodes, 'The codes, shown this once'),
    ...errors(400, 401, 403, 413, 429, 503),
  },
});

const eventsRoute = createRoute({
  method: 'get',
  path: '/api/me/events',
  tags: ['Account'],
  summary: "The user's own recent audit events, newest first",
  security: bearer,
  responses: { 200: json(AuditEvents, 'Events'), ...errors(401) },
});

const passwordRoute = createRoute({
  method: 'post',
  path: '/api/me/password',
  tags: ['Account'],
  summary:
    'Change the password (the current one is asked); every session of the account ends, and a new token is returned',
  security: bearer,
  request: jsonBody(ChangePasswordRequest),
  responses: { 200: json(ChangedPassword, 'Changed'), ...errors(400, 401, 413, 429, 503) },
});

/** How many of their own events a user sees: enough to spot a code used by someone else. */
const OWN_EVENTS = 50;

export function meRoutes(deps: Deps) {
  const app = routeGroup();
  app.use('/api/me', requireUser(deps));
  app.use('/api/me/*', requireUser(deps));
  app.openapi(meRoute, async (c) => {
    const user = c.get('user');
    const policy = await deps.store.getPolicy();
    return c.json(
      {
        user: publicUser(user),
        mustChangePassword: Boolean(user.mustChangePassword),
        mfa: { enabled: mfaEnabled(policy, user), enrolled: user.mfa.enrolled, type: user.mfa.type },
        backupCodes: backupCodeStatus(policy, user),
      },
      200,
    );
  });
  app.openapi(generateRoute, async (c) => {
    const { password } = c.req.valid('json');
    const [meta, user] = [c.get('meta'), c.get('user')];
    const codes = await limitedChange(deps, 'backup_codes', user, meta, () =>
      generateBackupCodes(deps, meta, user, password),
    );
    return c.json(codes, 201);
  });
  app.openapi(passwordRoute, async (c) => {
    const [meta, user] = [c.get('meta'), c.get('user')];
    const changed = await limitedChange(deps, 'password_change', user, meta, () =>
      changePassword(deps, meta, user, c.req.valid('json'), c.get('token')),
    );
    return c.json(changed, 200);
  });
  app.openapi(eventsRoute, async (c) => {
    // One page: a poll never reaches back through rotated audit files.
    const { events } = await deps.store.pageAudit({ limit: OWN_EVENTS, userId: c.get('user').id });
    return c.json({ events }, 200);
  });
  return app;
}
