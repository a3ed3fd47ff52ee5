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
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly extras: ErrorExtras;

  constructor(status: ContentfulStatusCode, code: string, message: string, extras: ErrorExtras = {}) {
    // An answer to the client, never logged as a fault: no stack trace to capture. Capturing one
    // cost more of the event loop than writing the answer, and every wrong code throws one.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.extras = extras;
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
/** A backup code already spent, typically a double submit of the one just used: not a wrong guess, so not counted. */
export const codeAlreadyUsed = () =>
  new ApiError(
    409,
    'code_already_used',
    'This backup code has already been used (each code works once): use another one.',
  );
export const totpAlreadyUsed = () =>
  new ApiError(
    409,
    'code_already_used',
    'This authenticator code has already been used: wait for the next one.',
  );
export const unauthorized = () =>
  new ApiError(401, 'unauthorized', 'Sign in first: the session is missing, expired or revoked.');
export const mfaStepRequired = () =>
  new ApiError(
    401,
    'mfa_step_required',
    'Multifactor authentication is now required for your account: sign in again to complete it.',
  );
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

/** A client over an endpoint's per-address request budget (server/http/rate-limit.ts). */
export function tooManyRequests(retryAfterMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ApiError(
    429,
    'too_many_requests',
    `Too many requests from this address. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`,
    { retryAfter: seconds },
  );
}

/**
 * 503, not 500: the server is fine, one account's stored record is not. It says so (the account's
 * owner cannot fix it; an admin can restore or delete it), which tells a caller the name exists:
 * a damaged account is rare and visible to admins, so that is the lesser harm than a silent 401.
 */
export const storeDamaged = () =>
  new ApiError(
    503,
    'store_damaged',
    "Part of the server's stored data is damaged, so this cannot be done right now. The operator can restore it (npm run store:check says how).",
  );

export const accountDamaged = () =>
  new ApiError(
    503,
    'account_damaged',
    "This account's stored record is damaged, so it cannot be used right now. An administrator can restore it from a backup or delete it.",
  );
