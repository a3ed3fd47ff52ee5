/** Reading and checking the sign-in forms: what is missing or too long is shown at its field, never a 500. */
import type { Context } from 'hono';

/** The form's fields; null when the body is not a URL-encoded form (our pages post nothing else). */
export async function readForm(c: Context): Promise<URLSearchParams | null> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) return null;
  return new URLSearchParams(await c.req.text());
}

export interface FieldRule {
  name: string;
  /** Used in messages: "Enter your {label}." */
  label: string;
  /** The same bounds as the JSON API's schemas (shared/api.ts). */
  max: number;
}

export const USERNAME: FieldRule = { name: 'username', label: 'username', max: 64 };
export const PASSWORD: FieldRule = { name: 'password', label: 'password', max: 1024 };
export const CURRENT_PASSWORD: FieldRule = { name: 'current_password', label: 'current password', max: 1024 };
export const NEW_PASSWORD: FieldRule = { name: 'new_password', label: 'new password', max: 1024 };
export const CONFIRM_PASSWORD: FieldRule = {
  name: 'confirm_password',
  label: 'new password again',
  max: 1024,
};
export const TOTP_CODE: FieldRule = { name: 'totp', label: 'authenticator code', max: 64 };
export const BACKUP_CODE: FieldRule = { name: 'backup_code', label: 'backup code', max: 64 };

const PASSWORDS = new Set([PASSWORD, CURRENT_PASSWORD, NEW_PASSWORD, CONFIRM_PASSWORD]);

export type Checked = { value: string; error: null } | { value: string; error: string };

export function checkField(form: URLSearchParams | null, rule: FieldRule): Checked {
  const raw = form?.get(rule.name) ?? '';
  // Passwords are taken as typed; names and codes forgive stray spaces from copy and paste.
  const value = PASSWORDS.has(rule) ? raw : raw.trim();
  if (value === '') return { value, error: `Enter your ${rule.label}.` };
  if (value.length > rule.max) {
    return { value: value.slice(0, rule.max), error: `That ${rule.label} is too long.` };
  }
  return { value, error: null };
}
