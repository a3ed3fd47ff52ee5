/** Small builders so each route states its schemas once, for validation and for the OpenAPI document. */
import { OpenAPIHono, type z } from '@hono/zod-openapi';
import { ErrorBody } from '../../shared/api';
import type { AppEnv } from './context';
import { ApiError } from './errors';

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  body: { content: { 'application/json': { schema } }, required: true },
});

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

export const errors = (...statuses: (400 | 401 | 403 | 404 | 408 | 409 | 413 | 429 | 503)[]) =>
  Object.fromEntries(
    statuses.map((s) => [s, json(ErrorBody, 'Error: {"error":{"code","message"}}')]),
  ) as Record<number, ReturnType<typeof json<typeof ErrorBody>>>;

export const bearer = [{ bearer: [] }];

/** A route group whose validation failures become our error shape, naming the field. */
export function routeGroup() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issue = result.error.issues[0];
      const field = issue?.path.join('.') ?? '';
      let message = issue?.message ?? 'The request is not valid.';
      if (issue?.code === 'unrecognized_keys') message = `Unknown field: ${issue.keys.join(', ')}.`;
      else if (issue?.code === 'invalid_type' && message.startsWith('Invalid input')) {
        message = field ? `${field} is missing or has the wrong type.` : 'The body must be a JSON object.';
      }
      throw new ApiError(400, 'invalid_request', field ? `${field}: ${message}` : message, { field });
    },
  });
}
