/**
 * The request body size limit of the app: hono's bodyLimit, without its cost where the headers
 * already decide. Hono's middleware starts by asking for the body as a stream of the fetch API, which
 * on the Node server builds a full fetch Request (and a web stream over the socket) for every request,
 * a GET included, and makes the handler read the body through it. A body whose size is declared
 * (Content-Length, no Transfer-Encoding) is judged by that header, and a GET or HEAD without either
 * has no body: both go on untouched, and a handler's `c.req.text()` or `json()` then reads the socket
 * directly. A body of unknown size (chunked) still goes through hono's counting read.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

export function limitBody(maxBytes: number, tooLarge: () => never): MiddlewareHandler {
  const counting = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return (c, next) => {
    const length = c.req.header('content-length');
    const chunked = c.req.header('transfer-encoding') !== undefined;
    if (length !== undefined && !chunked) {
      // As hono reads the header: a value that is not a number counts as 0.
      return Number.parseInt(length, 10) > maxBytes ? tooLarge() : next();
    }
    if (!chunked && (c.req.method === 'GET' || c.req.method === 'HEAD')) return next();
    return counting(c, next);
  };
}
