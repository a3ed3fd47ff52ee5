import { createRoute, z } from '@hono/zod-openapi';
import {
  AdminUsers,
  type AuditEvent,
  AuditEvents,
  AuditEventType,
  AuditExportFormat,
  CreatedUser,
  CreateUserRequest,
  Policy,
  ResetPassword,
  ResetPasswordRequest,
  UnlockedUser,
  UpdatedUser,
  UpdateUserRequest,
} from '../../shared/api';
import type { Deps } from '../deps';
import { requireAdmin, requireUser } from '../http/context';
import { ApiError } from '../http/errors';
import { bearer, errors, json, jsonBody, routeGroup } from '../http/openapi';
import { revokeBackupCodes } from '../services/backup-codes';
import { resetPassword } from '../services/passwords';
import { adminView, createUser, deleteUser, setPolicy, unlockUser, updateUser } from '../services/users';
import { PolicySchema } from '../store/records';
import { InvalidCursorError } from '../store/types';

const UserId = z.object({
  id: z
    .string()
    .uuid('Not a user id.')
    .openapi({ param: { name: 'id', in: 'path' }, example: '6f1c2a9e-8a4b-4c1d-9e2f-0a1b2c3d4e5f' }),
});

const AuditQuery = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .default(100)
    .openapi({ param: { name: 'limit', in: 'query' } }),
  userId: z
    .string()
    .uuid('Not a user id.')
    .optional()
    .openapi({ param: { name: 'userId', in: 'query' } }),
  type: AuditEventType.optional().openapi({ param: { name: 'type', in: 'query' } }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ param: { name: 'cursor', in: 'query' }, description: 'nextCursor of the previous page' }),
});

const AuditExportQuery = z
  .strictObject({
    from: z.iso.datetime('from must be an ISO date-time.').openapi({ param: { name: 'from', in: 'query' } }),
    to: z.iso.datetime('to must be an ISO date-time.').openapi({ param: { name: 'to', in: 'query' } }),
    format: AuditExportFormat.default('jsonl').openapi({ param: { name: 'format', in: 'query' } }),
  })
  .refine((query) => Date.parse(query.from) < Date.parse(query.to), {
    message: 'from must be before to.',
    path: ['to'],
  });

const CSV_COLUMNS = [
  'id',
  'at',
  'type',
  'actor_id',
  'actor',
  'subject_id',
  'subject',
  'ip',
  'user_agent',
  'details',
];

/** One CSV field: quoted, and a leading = + - @ defused so a spreadsheet never runs it as a formula. */
function csvField(value: string | null | undefined): string {
  const text = value ?? '';
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

function csvLine(event: AuditEvent): string {
  return [
    event.id,
    event.at,
    event.type,
    event.actor?.id,
    event.actor?.username,
    event.subject?.id,
    event.subject?.username,
    event.ip,
    event.userAgent,
    event.details ? JSON.stringify(event.details) : '',
  ]
    .map(csvField)
    .join(',');
}

const tags = ['Administration'];
const routes = {
  getPolicy: createRoute({
    method: 'get',
    path: '/api/admin/policy',
    tags,
    summary: 'The multifactor policy',
    security: bearer,
    responses: { 200: json(Policy, 'The policy'), ...errors(401, 403) },
  }),
  putPolicy: createRoute({
    method: 'put',
    path: '/api/admin/policy',
    tags,
    summary: 'Replace the whole policy: all of it is saved, or nothing (400 names the field)',
    security: bearer,
    request: jsonBody(Policy),
    responses: { 200: json(Policy, 'Saved'), ...errors(400, 401, 403, 413) },
  }),
  listUsers: createRoute({
    method: 'get',
    path: '/api/admin/users',
    tags,
    summary:
      'Every account with its MFA and backup-code state, and the accounts whose stored record is damaged',
    security: bearer,
    responses: { 200: json(AdminUsers, 'Users'), ...errors(401, 403) },
  }),
  createUser: createRoute({
    method: 'post',
    path: '/api/admin/users',
    tags,
    summary: 'Create an account',
    security: bearer,
    request: jsonBody(CreateUserRequest),
    responses: { 201: json(CreatedUser, 'Created'), ...errors(400, 401, 403, 409, 413) },
  }),
  updateUser: createRoute({
    method: 'patch',
    path: '/api/admin/users/{id}',
    tags,
    summary: "Change a role or set the user's MFA (off, authenticator now, or configured later by the user)",
    security: bearer,
    request: { params: UserId, ...jsonBody(UpdateUserRequest) },
    responses: { 200: json(UpdatedUser, 'Updated'), ...errors(400, 401, 403, 404, 409, 413) },
  }),
  deleteUser: createRoute({
    method: 'delete',
    path: '/api/admin/users/{id}',
    tags,
    summary: 'Delete an account; its sessions end',
    security: bearer,
    request: { params: UserId },
    responses: { 204: { description: 'Deleted' }, ...errors(400, 401, 403, 404, 409) },
  }),
  revokeCodes: createRoute({
    method: 'delete',
    path: '/api/admin/users/{id}/backup-codes',
    tags,
    summary: "Revoke the user's backup-code set",
    security: bearer,
    request: { params: UserId },
    responses: { 204: { description: 'Revoked' }, ...errors(400, 401, 403, 404) },
  }),
  resetPassword: createRoute({
    method: 'post',
    path: '/api/admin/users/{id}/password',
    tags,
    summary:
      'Set a temporary password (given, or generated and returned once) that the user must change at the next sign-in; their sessions end',
    security: bearer,
    request: { params: UserId, ...jsonBody(ResetPasswordRequest) },
    responses: { 200: json(ResetPassword, 'Reset'), ...errors(400, 401, 403, 404, 413) },
  }),
  unlockUser: createRoute({
    method: 'post',
    path: '/api/admin/users/{id}/unlock',
    tags,
    summary:
      'End the password and MFA lockouts of an account, including one that waits for an administrator ' +
      'after 100 consecutive failures (audited as user_unlocked)',
    security: bearer,
    request: { params: UserId },
    responses: { 200: json(UnlockedUser, 'Unlocked'), ...errors(400, 401, 403, 404) },
  }),
  audit: createRoute({
    method: 'get',
    path: '/api/admin/audit',
    tags,
    summary:
      'The latest audit events, newest first, optionally for one user or one event type; nextCursor pages back through rotated files',
    security: bearer,
    request: { query: AuditQuery },
    responses: { 200: json(AuditEvents, 'Events'), ...errors(400, 401, 403) },
  }),
  auditExport: createRoute({
    method: 'get',
    path: '/api/admin/audit/export',
    tags,
    summary: 'The audit events with from <= at < to, oldest first, as a JSON Lines or CSV download',
    security: bearer,
    request: { query: AuditExportQuery },
    responses: {
      200: {
        description: 'The events',
        content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } },
      },
      ...errors(400, 401, 403),
    },
  }),
};

export function adminRoutes(deps: Deps) {
  const app = routeGroup();
  app.use('/api/admin/*', requireUser(deps), requireAdmin);

  // Parsed: a policy saved before a field existed is answered with that field's default.
  app.openapi(routes.getPolicy, async (c) => c.json(PolicySchema.parse(await deps.store.getPolicy()), 200));
  app.openapi(routes.putPolicy, async (c) =>
    c.json(await setPolicy(deps, c.get('meta'), c.get('user'), c.req.valid('json')), 200),
  );
  app.openapi(routes.listUsers, async (c) => {
    const users = await deps.store.listUsers();
    const now = deps.clock.now();
    const views = users.map((user) => adminView(user, now));
    // After listUsers, which read every account: the damage list is complete.
    const damaged = (await deps.store.listDamaged()).sort((a, b) => a.username.localeCompare(b.username));
    return c.json({ users: views.sort((a, b) => a.username.localeCompare(b.username)), damaged }, 200);
  });
  app.openapi(routes.createUser, async (c) => {
    const user = await createUser(deps, c.get('meta'), c.get('user'), c.req.valid('json'));
    return c.json({ user }, 201);
  });
  app.openapi(routes.updateUser, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await updateUser(deps, c.get('meta'), c.get('user'), id, c.req.valid('json')), 200);
  });
  app.openapi(routes.deleteUser, async (c) => {
    await deleteUser(deps, c.get('meta'), c.get('user'), c.req.valid('param').id);
    return c.body(null, 204);
  });
  app.openapi(routes.revokeCodes, async (c) => {
    await revokeBackupCodes(deps, c.get('meta'), c.get('user'), c.req.valid('param').id);
    return c.body(null, 204);
  });
  app.openapi(routes.resetPassword, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await resetPassword(deps, c.get('meta'), c.get('user'), id, c.req.valid('json')), 200);
  });
  app.openapi(routes.unlockUser, async (c) => {
    const user = await unlockUser(deps, c.get('meta'), c.get('user'), c.req.valid('param').id);
    return c.json({ user }, 200);
  });
  app.openapi(routes.audit, async (c) => {
    const { cursor, ...query } = c.req.valid('query');
    try {
      return c.json(await deps.store.pageAudit(query, cursor), 200);
    } catch (error) {
      if (error instanceof InvalidCursorError)
        throw new ApiError(400, 'invalid_request', error.message, { field: 'cursor' });
      throw error;
    }
  });
  app.openapi(routes.auditExport, async (c) => {
    const { from, to, format } = c.req.valid('query');
    const events = deps.store.exportAudit(from, to)[Symbol.asyncIterator]();
    const encoder = new TextEncoder();
    // Pulled one event at a time as the client reads: a slow download holds one event, not the range.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (format === 'csv') controller.enqueue(encoder.encode(`${CSV_COLUMNS.join(',')}\n`));
      },
      async pull(controller) {
        const next = await events.next();
        if (next.done) return controller.close();
        const event = next.value;
        controller.enqueue(encoder.encode(`${format === 'csv' ? csvLine(event) : JSON.stringify(event)}\n`));
      },
      async cancel() {
        await events.return?.();
      },
    });
    const name = `sparekey-audit-${from.slice(0, 10)}-${to.slice(0, 10)}.${format}`;
    c.header('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
    c.header('Content-Disposition', `attachment; filename="${name}"`);
    return c.body(body, 200) as never;
  });
  return app;
}
