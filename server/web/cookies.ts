/**
 * The web sign-in's three cookies. All are HttpOnly (no script may read them; there is none anyway)
 * and SameSite=Strict (another site's form or link never carries them). Whenever users reach us over
 * HTTPS (TLS here, or PUBLIC_URL https behind a TLS-terminating proxy, whatever the socket speaks)
 * every one is Secure with the __Host- prefix: host-only, Path=/, so neither a sibling subdomain nor a
 * plain-HTTP response can plant or overwrite it.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { CookiePrefixOptions } from 'hono/utils/cookie';
import type { Deps } from '../deps';

interface CookieSpec {
  name: string;
  /** Seconds; undefined makes a browser-session cookie. */
  maxAge: (deps: Deps) => number | undefined;
}

export const SESSION_COOKIE: CookieSpec = {
  name: 'sparekey_session',
  maxAge: (deps) => Math.floor(deps.security.sessionMaxMs / 1000),
};

/**
 * The pending MFA challenge. Only the sign-in pages under /login read it, but it is scoped to Path=/ like
 * the others: __Host- (which forbids a narrower Path) protects it from planting, which matters more.
 */
export const CHALLENGE_COOKIE: CookieSpec = {
  name: 'sparekey_mfa',
  maxAge: (deps) => Math.floor(deps.security.mfaTokenMs / 1000),
};

export const CSRF_COOKIE: CookieSpec = { name: 'sparekey_csrf', maxAge: () => undefined };

/** Every value we set is a 256-bit base64url token; anything else in the header is not ours. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{1,128}$/;

function prefixFor(deps: Deps): CookiePrefixOptions | undefined {
  // Browsers accept __Host- only with Secure, and keep Secure cookies only from https pages.
  return deps.security.https ? 'host' : undefined;
}

export function readCookie(c: Context, deps: Deps, spec: CookieSpec): string | null {
  const value = getCookie(c, spec.name, prefixFor(deps));
  return value && TOKEN_SHAPE.test(value) ? value : null;
}

export function writeCookie(c: Context, deps: Deps, spec: CookieSpec, value: string): void {
  const maxAge = spec.maxAge(deps);
  setCookie(c, spec.name, value, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.security.https,
    prefix: prefixFor(deps),
    ...(maxAge === undefined ? {} : { maxAge }),
  });
}

export function clearCookie(c: Context, deps: Deps, spec: CookieSpec): void {
  deleteCookie(c, spec.name, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.security.https,
    prefix: prefixFor(deps),
  });
}
