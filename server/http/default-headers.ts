/**
 * The headers every answer carries unless its handler says otherwise: the security headers (no
 * framing, no sniffing, no referrer, a script-free Content-Security-Policy) and no caching (API
 * answers carry tokens, codes and account state).
 *
 * They go on Node's response before the app runs, so that a handler's own value replaces them (an
 * OpenID Connect page's policy naming its form target, an extension package's Cache-Control) and
 * the provider's answers, written straight on that response, get them too. Set afterwards on the
 * fetch Response, as hono's secureHeaders does, every answer paid for a full Headers object built
 * and read back: about a tenth of a millisecond of event loop per sign-in attempt (issue 21).
 */
import type { MiddlewareHandler } from 'hono';
import { contentSecurityPolicy } from '../oidc/views';
import { type AppEnv, nodeBindings } from './context';

export function defaultHeaders(https: boolean): ReadonlyArray<readonly [string, string]> {
  return [
    ['Content-Security-Policy', contentSecurityPolicy()],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Cross-Origin-Resource-Policy', 'same-origin'],
    ['Origin-Agent-Cluster', '?1'],
    ['Referrer-Policy', 'no-referrer'],
    ...(https ? [['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'] as const] : []),
    ['X-Content-Type-Options', 'nosniff'],
    ['X-DNS-Prefetch-Control', 'off'],
    ['X-Download-Options', 'noopen'],
    ['X-Frame-Options', 'DENY'],
    ['X-Permitted-Cross-Domain-Policies', 'none'],
    // The legacy XSS auditor is off: it could be used to remove scripts from a page.
    ['X-XSS-Protection', '0'],
    ['Cache-Control', 'no-store'],
  ];
}

/**
 * Puts `headers` and the request's id on every answer. In-process, with no Node response, they are
 * added to the returned Response, still only where the handler set none.
 */
export function withDefaultHeaders(
  headers: ReadonlyArray<readonly [string, string]>,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = c.get('requestId');
    const outgoing = nodeBindings(c)?.outgoing;
    if (outgoing) {
      for (const [name, value] of headers) outgoing.setHeader(name, value);
      outgoing.setHeader('X-Request-Id', requestId);
      return next();
    }
    await next();
    for (const [name, value] of [...headers, ['X-Request-Id', requestId] as const]) {
      if (c.res.headers.has(name)) continue;
      try {
        c.res.headers.set(name, value);
      } catch {
        // A response passed through from a fetch has immutable headers: hono rebuilds it.
        c.header(name, value);
      }
    }
  };
}
