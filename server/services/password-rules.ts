/**
 * The one rule for every new password (an account created, a password changed or reset, the first
 * admin's), after NIST SP 800-63B 5.1.1.2: a minimum length, a generous maximum, no composition rules
 * (they push people to predictable patterns), and no password from a list of common ones.
 *
 * The list is the `passwords-common` dictionary of @zxcvbn-ts/language-common (49,233 passwords from
 * public breach corpora, all lower case): a maintained package that works offline. It is compared
 * case-insensitively, since "Password1" is as guessable as "password1".
 */
import { randomBytes } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';
import { ApiError } from '../http/errors';

/** 800-63B's floor for a password used with a second factor; the same for all, as the policy can change. */
export const PASSWORD_MIN_LENGTH = 8;
/** Far above the 64 that 800-63B asks to allow; it bounds the work one argon2id call is given. */
export const PASSWORD_MAX_LENGTH = 256;

let common: Set<string> | null = null;
function commonPasswords(): Set<string> {
  common ??= new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));
  return common;
}

/** Why `password` may not be used, in a sentence for the person choosing it; null when it may. */
export function passwordProblem(password: string, context: { username?: string } = {}): string | null {
  // Characters as people count them: an emoji or an accented letter is one, whatever UTF-16 makes of it.
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters.`;
  if (length > PASSWORD_MAX_LENGTH) return `Password must be at most ${PASSWORD_MAX_LENGTH} characters.`;
  const folded = password.toLowerCase();
  if (commonPasswords().has(folded)) {
    return 'This password is on a list of commonly used passwords: choose another.';
  }
  if (context.username && folded === context.username.toLowerCase()) {
    return 'Password must not be the username.';
  }
  return null;
}

/** Throws the API's 400 naming `field` when `password` breaks the rule. */
export function checkNewPassword(password: string, field: string, context: { username?: string } = {}): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new ApiError(400, 'weak_password', problem, { field });
}

/** A temporary or first password: 120 random bits, base64url, 20 characters that no list holds. */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}

/** Loads the list before the first request, so the first account created does not pay for it. */
export function preparePasswordRules(): void {
  commonPasswords();
}
