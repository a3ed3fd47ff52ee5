/** Per-request variables and the middleware that sets them. */
import { isIP, SocketAddress } from 'node:net';
import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { Deps, RequestMeta } from '../deps';
import { resolveSession } from '../services/sessions';
import type { UserRecord } from '../store/types';
import { ApiError, forbidden, unauthorized } from './errors';

export type AppEnv = {
  Variables: {
    requestId: string;
    meta: RequestMeta;
    user: UserRecord;
    /** The bearer token of this request, so logout can revoke exactly it. */
    token: string;
  };
};

/**
 * An IP address in one canonical text (IPv6 compressed and lower case, IPv4-mapped IPv6 as IPv4), so
 * that one client is one throttle key; null for anything that is not an address.
 */
export function canonicalIp(raw: string | undefined): string | null {
  const bare = raw?.trim().replace(/^\[(.*)\]$/, '$1') ?? '';
  const family = isIP(bare);
  if (family === 0) return null;
  // isIP accepts IPv4 only in its one canonical form (no leading zeros): nothing to rewrite.
  if (family === 4) return bare;
  const address = new SocketAddress({ address: bare, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
  const mapped = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i);
  return mapped?.[1] ?? address;
}

/**
 * The client an address stands for, as throttles and the overload hold count it: an IPv4 address
 * itself, an IPv6 address its /64 network, because a network of that size is what one household or
 * host is given (RFC 6177) and it can rotate through all of it at will. `address` is canonical.
 */
export function addressGroup(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.split('::');
  // An IPv4 tail (a.b.c.d) is the last two groups.
  const groups = (part: string) =>
    part === '' ? [] : part.split(':').flatMap((group) => (group.includes('.') ? ['0', '0'] : [group]));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const whole = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${canonicalIp(`${whole.slice(0, 4).join(':')}::`)}/64`;
}

/**
 * The client's address. Behind `hops` trusted proxies, each appends to X-Forwarded-For the address it
 * was reached from, so the entry `hops` from the right was written by our nearest-but-last proxy;
 * everything to its left was written by the client and may be anything. An entry that is missing or
 * not an address falls back to the socket's address.
 */
export function clientIp(c: Context, proxyHops: number): string | null {
  if (proxyHops > 0) {
    const entries = c.req.header('x-forwarded-for')?.split(',') ?? [];
    const forwarded = entries.length >= proxyHops ? canonicalIp(entries[entries.length - proxyHops]) : null;
    if (forwarded) return forwarded;
  }
  try {
    return canonicalIp(getConnInfo(c).remote.address);
  } catch {
    // app.request() in unit tests has no socket.
    return null;
  }
}

export function requestMeta(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const userAgent = c.req.header('user-agent')?.slice(0, 256) ?? null;
    c.set('meta', {
      ip: clientIp(c, deps.security.trustProxy ? deps.security.trustProxyHops : 0),
      userAgent,
    });
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

/**
 * All a session may do while its user must change their password (after an admin's reset, or as the
 * generated first admin). A list of what is open, so that any route added later is closed by default.
 */
const OPEN_DURING_PASSWORD_CHANGE = new Set([
  'GET /api/me',
  'POST /api/me/password',
  'POST /api/auth/logout',
]);

const passwordChangeRequired = () =>
  new ApiError(
    403,
    'password_change_required',
    'Your password was reset: choose a new password before doing anything else.',
  );

export function requireUser(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c);
    const activity = c.req.header(BACKGROUND_POLL_HEADER) !== '1';
    const user = token ? await resolveSession(deps, token, { activity }) : null;
    if (!token || !user) throw unauthorized();
    if (user.mustChangePassword && !OPEN_DURING_PASSWORD_CHANGE.has(`${c.req.method} ${c.req.path}`)) {
      throw passwordChangeRequired();
    }
    c.set('user', user);
    c.set('token', token);
    await next();
  };
}

export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.get('user').role !== 'admin') throw forbidden();
  await next();
};

/** The Node request and response under this request, or null in-process (tests' app.request). */
export function nodeBindings(c: Context): HttpBindings | null {
  const env = c.env as Partial<HttpBindings> | undefined;
  return env?.incoming && env.outgoing ? (env as HttpBindings) : null;
}
