/** A scripted SpareKey server behind a stubbed fetch, for the component tests only. */
import { vi } from 'vitest';

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
    const request: Request = {
      method,
      path: `${url.pathname}${url.search}`,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      headers,
    };
    calls.push(request);
    const queue = queues.get(`${method} ${url.pathname}`);
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
