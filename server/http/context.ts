/** Per-request variables and the middleware that sets them. */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { Deps, RequestMeta } from '../deps';
import { resolveSession } from '../services/sessions';
import type { UserRecord } from '../store/types';
import { forbidden, unauthorized } from './errors';

export type AppEnv = {
  Variables: {
    requestId: string;
    meta: RequestMeta;
    user: UserRecord;
    /** The bearer token of this request, so logout can revoke exactly it. */
    token: string;
  };
};

function clientIp(c: Context, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    // app.request() in unit tests has no socket.
    return null;
  }
}

export function requestMeta(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const userAgent = c.req.header('user-agent')?.slice(0, 256) ?? null;
    c.set('meta', { ip: clientIp(c, deps.security.trustProxy), userAgent });
    await next();
  };
}

export function bearerToken(c: Context): string | null {
  const header = c.req.header('authorization');
  const match = header?.match(/^Bearer ([A-Za-z0-9_-]{1,128})$/);
  return match?.[1] ?? null;
}

/** Sent by the extension's background polling, which must not keep an idle session alive. */
export const BACKGROUND_POLL_HEADER = 'x-sparekey-background';

export function requireUser(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c);
    const activity = c.req.header(BACKGROUND_POLL_HEADER) !== '1';
    const user = token ? await resolveSession(deps, token, { activity }) : null;
    if (!token || !user) throw unauthorized();
    c.set('user', user);
    c.set('token', token);
    await next();
  };
}

export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.get('user').role !== 'admin') throw forbidden();
  await next();
};
