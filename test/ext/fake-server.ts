/** A scripted SpareKey server behind a stubbed fetch, for the component tests only. */
import { vi } from 'vitest';
import type { Application, CreateApplicationRequest, UpdateApplicationRequest } from '../../shared/api';

export const SERVER = 'https://sparekey.example';

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Request {
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string>;
  /** The values of a route's `:name` segments (`PATCH /api/admin/applications/:id`). */
  params: Record<string, string>;
}

/** A fixed reply, a function of the request, or a queue of either (one per call, the last one repeats). */
type Handler = Reply | ((request: Request) => Reply);

export function errorReply(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): Reply {
  return { status, body: { error: { code, message, ...extra } } };
}

/** The queue of the route `method path` names: an exact route first, else one with `:name` segments. */
function routeFor<T>(queues: Map<string, T>, method: string, pathname: string) {
  const exact = queues.get(`${method} ${pathname}`);
  if (exact) return { queue: exact, params: {} };
  const segments = pathname.split('/');
  for (const [key, queue] of queues) {
    const [routeMethod, routePath = ''] = key.split(' ');
    const pattern = routePath.split('/');
    if (routeMethod !== method || pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((part, i) => {
      const segment = segments[i] ?? '';
      if (!part.startsWith(':')) return part === segment;
      params[part.slice(1)] = decodeURIComponent(segment);
      return segment !== '';
    });
    if (matches) return { queue, params };
  }
  return null;
}

export function fakeServer(routes: Record<string, Handler | Handler[]>) {
  const calls: Request[] = [];
  let offline = false;
  const queues = new Map(
    Object.entries(routes).map(([key, handler]) => [key, Array.isArray(handler) ? [...handler] : [handler]]),
  );
  const fetchStub = vi.fn(async (input: string | URL, init: RequestInit = {}) => {
    if (offline) throw new TypeError('Failed to fetch');
    const url = new URL(String(input));
    const method = init.method ?? 'GET';
    const headers = Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>));
    const route = routeFor(queues, method, url.pathname);
    const request: Request = {
      method,
      path: `${url.pathname}${url.search}`,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      headers,
      params: route?.params ?? {},
    };
    calls.push(request);
    const queue = route?.queue;
    const next = queue && (queue.length > 1 ? queue.shift() : queue[0]);
    if (!next)
      return new Response(JSON.stringify({ error: { code: 'not_found', message: 'No route.' } }), {
        status: 404,
      });
    const reply = typeof next === 'function' ? next(request) : next;
    const status = reply.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(reply.body ?? {}), {
      status,
      headers: { 'Content-Type': 'application/json', ...reply.headers },
    });
  });
  vi.stubGlobal('fetch', fetchStub);
  return {
    calls,
    /** While offline, fetch fails the way it does when the server cannot be reached. */
    setOffline(value: boolean) {
      offline = value;
    },
    /** Replaces the replies of one route. */
    on(route: string, handler: Handler | Handler[]) {
      queues.set(route, Array.isArray(handler) ? [...handler] : [handler]);
    },
    callsTo: (method: string, pathname: string) =>
      calls.filter((c) => c.method === method && c.path.split('?')[0] === pathname),
  };
}

/** A server that cannot be reached: fetch itself fails, as it does on a refused connection. */
export function unreachableServer() {
  fakeServer({}).setOffline(true);
}

/**
 * The applications admin API (docs/API.md) as a tiny in-memory server: what a test registers is listed
 * afterwards, a confidential application gets a fresh secret on creation and rotation, a deleted one
 * is gone. Spread its `routes` into fakeServer; a test scripts a refusal with `server.on`.
 */
export function fakeApplications(initial: Application[] = []) {
  const applications = structuredClone(initial);
  let serial = 0;
  const secrets: string[] = [];
  const newSecret = () => {
    const secret = `secret-${++serial}-${'x'.repeat(32)}`;
    secrets.push(secret);
    return secret;
  };
  const find = (request: Request) => applications.find((app) => app.id === request.params.id);
  const missing = errorReply(404, 'not_found', 'Application not found.');
  const routes: Record<string, Handler> = {
    'GET /api/admin/applications': () => ({ body: { applications } }),
    'POST /api/admin/applications': (request) => {
      const input = request.body as CreateApplicationRequest;
      serial++;
      const application: Application = {
        id: `00000000-0000-4000-8000-${String(serial).padStart(12, '0')}`,
        clientId: `client-${serial}`,
        name: input.name,
        type: input.type,
        redirectUris: input.redirectUris,
        postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
        createdAt: '2026-11-28T09:00:00.000Z',
      };
      applications.push(application);
      return {
        status: 201,
        body: { application, ...(input.type === 'confidential' ? { clientSecret: newSecret() } : {}) },
      };
    },
    'PATCH /api/admin/applications/:id': (request) => {
      const application = find(request);
      if (!application) return missing;
      Object.assign(application, request.body as UpdateApplicationRequest);
      return { body: { application } };
    },
    'DELETE /api/admin/applications/:id': (request) => {
      const application = find(request);
      if (!application) return missing;
      applications.splice(applications.indexOf(application), 1);
      return { status: 204 };
    },
    'POST /api/admin/applications/:id/secret': (request) => {
      const application = find(request);
      if (!application) return missing;
      if (application.type === 'public') {
        return errorReply(409, 'public_application', 'A public application has no client secret.');
      }
      return { body: { clientSecret: newSecret() } };
    },
  };
  return { routes, applications, secrets };
}
