/** Turns a failed call into a sentence for the user, in their language where we know the case. */
import { ApiError, UNREACHABLE } from './api';
import { t } from './i18n';

/** 401 codes that mean "what you typed is wrong", as opposed to "your session is gone". */
const WRONG_INPUT = new Set(['invalid_credentials', 'invalid_password', 'invalid_code']);

export function isSessionExpired(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401 && !WRONG_INPUT.has(error.code);
}

export function lockoutMessage(seconds: number | null): string {
  if (seconds === null) return t('errorLockedOut');
  if (seconds < 60) return t('errorLockedOutSeconds', seconds);
  return t('errorLockedOutMinutes', Math.ceil(seconds / 60));
}

export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return t('errorUnexpected');
  switch (error.code) {
    case UNREACHABLE:
      return t('errorUnreachable');
    case 'invalid_credentials':
      return t('errorInvalidCredentials');
    case 'invalid_password':
      return t('errorInvalidPassword');
    case 'invalid_code':
      return t('errorInvalidCode');
    case 'too_many_attempts':
      return lockoutMessage(error.retryAfterSeconds);
    default:
      if (isSessionExpired(error)) return t('errorSessionExpired');
      if (error.status === 403) return t('errorForbidden');
      // Anything else is the server's own sentence (validation messages name the field); shown as text.
      return error.message;
  }
}
