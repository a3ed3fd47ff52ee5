/**
 * The one error type services throw. The app turns it into the API's error shape
 * {"error":{"code","message"}}; the web pages show its message beside the form.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export interface ErrorExtras {
  /** The request field the message is about, so a form can show it at that field. */
  field?: string;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly extras: ErrorExtras = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody() {
    const { field } = this.extras;
    return { error: { code: this.code, message: this.message, ...(field ? { field } : {}) } };
  }
}

// One generic message for every wrong secret: which part was wrong is not the client's business.
export const invalidCredentials = () =>
  new ApiError(401, 'invalid_credentials', 'Invalid username or password.');
export const invalidCode = () => new ApiError(401, 'invalid_code', 'That code is not valid.');
export const unauthorized = () =>
  new ApiError(401, 'unauthorized', 'Sign in first: the session is missing, expired or revoked.');
export const forbidden = () => new ApiError(403, 'forbidden', 'This needs an administrator account.');
export const notFound = (what = 'Resource') => new ApiError(404, 'not_found', `${what} not found.`);
export const expiredMfaToken = () =>
  new ApiError(401, 'invalid_mfa_token', 'This sign-in has expired or was already completed. Sign in again.');

/** Seconds a client should wait when the database is out of reach: it usually comes back within that. */
export const STORE_RETRY_AFTER_S = 5;

export const storeUnavailable = () =>
  new ApiError(503, 'unavailable', 'The server cannot reach its database. Try again in a few seconds.', {
    retryAfter: STORE_RETRY_AFTER_S,
  });

/** Argon2id has more sign-ins waiting than it can check within a few seconds: refused at once, retry later. */
export const overloaded = (retryAfterS: number) =>
  new ApiError(
    503,
    'overloaded',
    `The server is busy checking other sign-ins. Try again in ${retryAfterS} second${retryAfterS === 1 ? '' : 's'}.`,
    { retryAfter: retryAfterS },
  );

export function tooManyAttempts(retryAfterMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const minutes = Math.ceil(seconds / 60);
  return new ApiError(
    429,
    'too_many_attempts',
    `Too many failed attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    { retryAfter: seconds },
  );
}
