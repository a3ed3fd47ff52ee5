/** Turns a failed call into a sentence for the user, in their language where we know the case. */
import { ApiError, UNREACHABLE } from './api';
import { t } from './i18n';

/** 401 codes that mean "what you typed is wrong" or "start sign-in over", not "your session is gone". */
const NOT_SESSION = new Set(['invalid_credentials', 'invalid_password', 'invalid_code', 'invalid_mfa_token']);

export function isSessionExpired(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401 && !NOT_SESSION.has(error.code);
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
    case 'invalid_mfa_token':
      return t('errorMfaExpired');
    case 'mfa_step_required':
      return t('errorMfaStepRequired');
    case 'too_many_attempts':
      return lockoutMessage(error.retryAfterSeconds);
    case 'password_change_required':
      return t('errorPasswordChangeRequired');
    default:
      if (isSessionExpired(error)) return t('errorSessionExpired');
      // Anything else is the server's own sentence (a reason, or a validation message naming the
      // field): plain words, rendered as text.
      return error.message;
  }
}

/** The server's sentence without its "field: " prefix, since it is shown beside that field. */
export function fieldMessage(error: ApiError): string {
  return error.field && error.message.startsWith(`${error.field}: `)
    ? error.message.slice(error.field.length + 2)
    : error.message;
}
