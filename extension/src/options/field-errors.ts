/**
 * Which input a server validation error belongs to: the error's `field` (a dotted path, docs/API.md)
 * names it, so the message is shown at that field rather than at the top of the form.
 */
import { ApiError } from '../api';

export type PolicyField = 'mfaUsage' | 'count' | 'warnWhenRemaining';
export type UserField = 'username' | 'password' | 'role';
export type ApplicationField = 'name' | 'type' | 'redirectUris' | 'postLogoutRedirectUris';

const POLICY_FIELDS: Record<string, PolicyField> = {
  mfaUsage: 'mfaUsage',
  'backupCodes.count': 'count',
  'backupCodes.warnWhenRemaining': 'warnWhenRemaining',
};

const USER_FIELDS: Record<string, UserField> = { username: 'username', password: 'password', role: 'role' };

const APPLICATION_FIELDS: Record<string, ApplicationField> = {
  name: 'name',
  type: 'type',
  redirectUris: 'redirectUris',
  postLogoutRedirectUris: 'postLogoutRedirectUris',
};

export function policyFieldOf(error: unknown): PolicyField | null {
  return error instanceof ApiError && error.field ? (POLICY_FIELDS[error.field] ?? null) : null;
}

export function userFieldOf(error: unknown): UserField | null {
  if (!(error instanceof ApiError)) return null;
  // A taken name is about the username whether or not the server names the field.
  if (error.code === 'username_taken') return 'username';
  return error.field ? (USER_FIELDS[error.field] ?? null) : null;
}

/**
 * The application form's field an error is about, and for a list of URIs which entry (`redirectUris.2`
 * is the third URI sent), or null when the error names no field of the form.
 */
export function applicationFieldOf(error: unknown): { field: ApplicationField; index: number | null } | null {
  if (!(error instanceof ApiError) || !error.field) return null;
  const [name = '', index] = error.field.split('.');
  const field = APPLICATION_FIELDS[name];
  if (!field) return null;
  return { field, index: index !== undefined && /^\d+$/.test(index) ? Number(index) : null };
}
