/**
 * Three locks on every web form POST, so a page on another site cannot submit our forms:
 * SameSite=Strict cookies (set in ./cookies), hono's csrf() Origin / Sec-Fetch-Site check, and a
 * double-submit token (a random value in a cookie and in a hidden field) for clients that send
 * neither header.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { csrf } from 'hono/csrf';
import { newToken } from '../crypto/tokens';
import type { Deps } from '../deps';
import { CSRF_COOKIE, readCookie, writeCookie } from './cookies';

export const CSRF_FIELD = 'csrf';

/** Our own origin as the browser sees it; behind a trusted TLS proxy, the proxy says which scheme that is. */
function ownOrigin(c: Context, deps: Deps): string {
  const url = new URL(c.req.url);
  const proto = deps.security.trustProxy
    ? c.req.header('x-forwarded-proto')?.split(',')[0]?.trim()
    : undefined;
  return proto === 'https' || proto === 'http' ? `${proto}://${url.host}` : url.origin;
}

/** Refuses a form POST whose Origin (or Sec-Fetch-Site) is not this server. */
export function originCheck(deps: Deps): MiddlewareHandler {
  return csrf({ origin: (origin, c) => origin === ownOrigin(c, deps) });
}

/** The token for this browser's forms: the one in its cookie, or a new one set now. */
export function formToken(c: Context, deps: Deps): string {
  const existing = readCookie(c, deps, CSRF_COOKIE);
  if (existing) return existing;
  const token = newToken();
  writeCookie(c, deps, CSRF_COOKIE, token);
  return token;
}

/** True when the form's hidden token equals the cookie's; compared in constant time. */
export function formTokenValid(c: Context, deps: Deps, submitted: string | null): boolean {
  const expected = readCookie(c, deps, CSRF_COOKIE);
  if (!expected || !submitted) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(submitted);
  // The length is no secret (every token has the same); timingSafeEqual needs equal lengths.
  return a.length === b.length && timingSafeEqual(a, b);
}
