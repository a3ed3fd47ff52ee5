/** The admin API for applications (OpenID Connect clients): list, register, edit, rotate the secret, delete. */
import { createRoute, z } from '@hono/zod-openapi';
import {
  Applications,
  CreateApplicationRequest,
  CreatedApplication,
  RotatedSecret,
  UpdateApplicationRequest,
  UpdatedApplication,
} from '../../shared/api';
import type { Deps } from '../deps';
import { requireAdmin, requireUser } from '../http/context';
import { bearer, errors, json, jsonBody, routeGroup } from '../http/openapi';
import {
  createApplication,
  deleteApplication,
  listApplications,
  rotateSecret,
  updateApplication,
} from '../services/applications';

const ApplicationId = z.object({
  id: z
    .string()
    .uuid('Not an application id.')
    .openapi({ param: { name: 'id', in: 'path' }, example: '0b7e4c3a-5d1f-4e2a-9c8b-7a6f5e4d3c2b' }),
});

const tags = ['Applications'];
const routes = {
  list: createRoute({
    method: 'get',
    path: '/api/admin/applications',
    tags,
    summary: 'The registered applications (OpenID Connect clients)',
    security: bearer,
    responses: { 200: json(Applications, 'Applications'), ...errors(401, 403) },
  }),
  create: createRoute({
    method: 'post',
    path: '/api/admin/applications',
    tags,
    summary: 'Register an application; a confidential one gets its client secret in this answer only',
    security: bearer,
    request: jsonBody(CreateApplicationRequest),
    responses: { 201: json(CreatedApplication, 'Registered'), ...errors(400, 401, 403, 413) },
  }),
  update: createRoute({
    method: 'patch',
    path: '/api/admin/applications/{id}',
    tags,
    summary: 'Change the name, redirect URIs or post-logout redirect URIs',
    security: bearer,
    request: { params: ApplicationId, ...jsonBody(UpdateApplicationRequest) },
    responses: { 200: json(UpdatedApplication, 'Updated'), ...errors(400, 401, 403, 404, 413) },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/api/admin/applications/{id}',
    tags,
    summary: 'Delete an application: its tokens stop working',
    security: bearer,
    request: { params: ApplicationId },
    responses: { 204: { description: 'Deleted' }, ...errors(400, 401, 403, 404) },
  }),
  rotate: createRoute({
    method: 'post',
    path: '/api/admin/applications/{id}/secret',
    tags,
    summary: 'A new client secret for a confidential application (shown once); the old one stops working',
    security: bearer,
    request: { params: ApplicationId },
    responses: { 200: json(RotatedSecret, 'The new secret'), ...errors(400, 401, 403, 404, 409) },
  }),
};

export function applicationRoutes(deps: Deps) {
  const app = routeGroup();
  app.use('/api/admin/applications', requireUser(deps), requireAdmin);
  app.use('/api/admin/applications/*', requireUser(deps), requireAdmin);

  app.openapi(routes.list, async (c) => c.json({ applications: await listApplications(deps) }, 200));
  app.openapi(routes.create, async (c) =>
    c.json(await createApplication(deps, c.get('meta'), c.get('user'), c.req.valid('json')), 201),
  );
  app.openapi(routes.update, async (c) => {
    const { id } = c.req.valid('param');
    const application = await updateApplication(deps, c.get('meta'), c.get('user'), id, c.req.valid('json'));
    return c.json({ application }, 200);
  });
  app.openapi(routes.remove, async (c) => {
    await deleteApplication(deps, c.get('meta'), c.get('user'), c.req.valid('param').id);
    return c.body(null, 204);
  });
  app.openapi(routes.rotate, async (c) => {
    const clientSecret = await rotateSecret(deps, c.get('meta'), c.get('user'), c.req.valid('param').id);
    return c.json({ clientSecret }, 200);
  });
  return app;
}
