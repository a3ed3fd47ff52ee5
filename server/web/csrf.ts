/**
 * Three locks on every web form POST, so a page on another site cannot submit our forms:
 * SameSite=Strict cookies (set in ./cookies), hono's csrf() Origin / Sec-Fetch-Site check, and a
 * double-submit token (a random value in a cookie and in a hidden field). Each must pass on its own.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { csrf } from 'hono/csrf';
import { newToken } from '../crypto/tokens';
import type { Deps } from '../deps';
import { CSRF_COOKIE, readCookie, writeCookie } from './cookies';

export const CSRF_FIELD = 'csrf';

/**
 * Refuses a form POST unless the browser says it comes from our own pages: Sec-Fetch-Site
 * same-origin, or an Origin equal to PUBLIC_URL's origin (what the browser shows, whatever Host and
 * scheme a proxy passes on), or to the origin this request was addressed to when that has PUBLIC_URL's
 * scheme (direct access under another name, e.g. localhost); behind a TLS proxy the request is plain
 * HTTP, and an http:// page must not pass for us. A client that sends neither header is refused:
 * browsers send at least one, so the double-submit token is a second lock, not a fallback.
 */
export function originCheck(deps: Deps): MiddlewareHandler {
  return csrf({
    origin: (origin, c) => {
      const ours = new URL(deps.security.publicUrl);
      const addressed = new URL(c.req.url);
      return origin === ours.origin || (addressed.protocol === ours.protocol && origin === addressed.origin);
    },
  });
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
