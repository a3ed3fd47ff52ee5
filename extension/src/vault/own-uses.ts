/**
 * The backup codes this browser itself used (a fill, or a sign-in through the popup), and when: the
 * code-use notice and notification leave these out, since announcing the user's own sign-in as a
 * possible intrusion teaches them to ignore the warning. Kept in storage.local apart from the sets,
 * so forgetting a set does not turn its past fills into alarms.
 */
import type { AuditEvent } from '../../../shared/api';

export const OWN_USES_KEY = 'sparekey.ownCodeUses';

export interface OwnUse {
  /** The server's origin. */
  server: string;
  username: string;
  userId: string | null;
  /** The code's number; null when a code typed by hand signed in and its number is not known. */
  number: number | null;
  /** When the code left this browser (ms since epoch). */
  at: number;
}

/** Uses older than the notice shows (30 days) are of no more use; the list stays short. */
const KEEP_MS = 30 * 24 * 60 * 60 * 1000;
const MAX_USES = 200;
/** A filled code reaches the server when the user submits: within the life of the sign-in's MFA challenge. */
const FILL_TO_USE_MS = 10 * 60 * 1000;
/** A typed code is noted once the sign-in answered: its event is seconds older than the note. */
const TYPED_WINDOW_MS = 2 * 60 * 1000;
/** Clocks of the browser and the server differ a little. */
const CLOCK_SKEW_MS = 60 * 1000;

export function parseOwnUses(value: unknown): OwnUse[] {
  if (!Array.isArray(value)) return [];
  return value.filter((u): u is OwnUse => {
    const r = u as Record<string, unknown> | null;
    return (
      r !== null &&
      typeof r === 'object' &&
      typeof r.server === 'string' &&
      typeof r.username === 'string' &&
      (r.userId === null || typeof r.userId === 'string') &&
      (r.number === null || (Number.isInteger(r.number) && (r.number as number) > 0)) &&
      typeof r.at === 'number'
    );
  });
}

/** `uses` with `use` added, the old and the surplus dropped. */
export function withOwnUse(uses: OwnUse[], use: OwnUse): OwnUse[] {
  return [...uses.filter((u) => use.at - u.at < KEEP_MS), use].slice(-MAX_USES);
}

function sameUser(use: OwnUse, event: AuditEvent): boolean {
  const subject = event.subject ?? event.actor;
  if (!subject) return false;
  if (use.userId !== null) return subject.id === use.userId;
  return subject.username.toLowerCase() === use.username.toLowerCase();
}

/** True when `event` (a backup_code_used on `server`) is one of this browser's own uses. */
export function isOwnUse(event: AuditEvent, uses: OwnUse[], server: string): boolean {
  const at = Date.parse(event.at);
  const number = event.details?.number;
  return uses.some((use) => {
    if (use.server !== server || !sameUser(use, event)) return false;
    if (use.number === null) return Math.abs(at - use.at) <= TYPED_WINDOW_MS;
    return use.number === number && at >= use.at - CLOCK_SKEW_MS && at <= use.at + FILL_TO_USE_MS;
  });
}
