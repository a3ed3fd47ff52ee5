/**
 * The server names the field in its validation message (docs/API.md: "400 with a message naming the
 * field"); this finds which input it belongs to, so the message is shown there.
 */
export type PolicyField = 'mfaUsage' | 'count' | 'warnWhenRemaining';
export type UserField = 'username' | 'password' | 'role';

export function policyFieldOf(message: string): PolicyField | null {
  if (/warnWhenRemaining|warning threshold/i.test(message)) return 'warnWhenRemaining';
  if (/\bcount\b|number of backup codes/i.test(message)) return 'count';
  if (/mfaUsage|MFA usage/i.test(message)) return 'mfaUsage';
  return null;
}

export function userFieldOf(message: string): UserField | null {
  if (/username|name is taken/i.test(message)) return 'username';
  if (/password/i.test(message)) return 'password';
  if (/\brole\b/i.test(message)) return 'role';
  return null;
}
