/**
 * The web sign-in's three cookies. All are HttpOnly (no script may read them; there is none anyway)
 * and SameSite=Strict (another site's form or link never carries them). With HTTPS they take the
 * __Host- / __Secure- prefixes, so a sibling subdomain or a plain-HTTP response cannot plant them.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { CookiePrefixOptions } from 'hono/utils/cookie';
import type { Deps } from '../deps';

interface CookieSpec {
  name: string;
  path: string;
  /** Seconds; undefined makes a browser-session cookie. */
  maxAge: (deps: Deps) => number | undefined;
}

export const SESSION_COOKIE: CookieSpec = {
  name: 'sparekey_session',
  path: '/',
  maxAge: (deps) => Math.floor(deps.security.sessionMaxMs / 1000),
};

/** The pending MFA challenge: only the sign-in pages under /login ever receive it. */
export const CHALLENGE_COOKIE: CookieSpec = {
  name: 'sparekey_mfa',
  path: '/login',
  maxAge: (deps) => Math.floor(deps.security.mfaTokenMs / 1000),
};

export const CSRF_COOKIE: CookieSpec = { name: 'sparekey_csrf', path: '/', maxAge: () => undefined };

/** Every value we set is a 256-bit base64url token; anything else in the header is not ours. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{1,128}$/;

function prefixFor(deps: Deps, spec: CookieSpec): CookiePrefixOptions | undefined {
  if (!deps.security.https) return undefined;
  // __Host- demands Path=/; the challenge cookie is narrower, so it gets __Secure-.
  return spec.path === '/' ? 'host' : 'secure';
}

export function readCookie(c: Context, deps: Deps, spec: CookieSpec): string | null {
  const value = getCookie(c, spec.name, prefixFor(deps, spec));
  return value && TOKEN_SHAPE.test(value) ? value : null;
}

export function writeCookie(c: Context, deps: Deps, spec: CookieSpec, value: string): void {
  const maxAge = spec.maxAge(deps);
  setCookie(c, spec.name, value, {
    path: spec.path,
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.security.https,
    prefix: prefixFor(deps, spec),
    ...(maxAge === undefined ? {} : { maxAge }),
  });
}

export function clearCookie(c: Context, deps: Deps, spec: CookieSpec): void {
  deleteCookie(c, spec.name, {
    path: spec.path,
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.security.https,
    prefix: prefixFor(deps, spec),
  });
}
