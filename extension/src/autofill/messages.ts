/**
 * The protocol between the content script on the server's pages and the background. The content script
 * learns the next number before a click, and receives a code only in the reply to a fill request.
 */

export const AUTOFILL_STATUS = 'sparekey:autofill:status';
export const AUTOFILL_FILL = 'sparekey:autofill:fill';
/** Background -> content script: the user asked for a fill (keyboard shortcut or popup). */
export const AUTOFILL_TRIGGER = 'sparekey:autofill:trigger';

/** The `commands` entry in manifest.json. */
export const FILL_COMMAND = 'fill-backup-code';

/** Longer than any username or user id the server gives; a longer claim is neither. */
export const MAX_USERNAME_LENGTH = 256;

/**
 * `username`, `userId`: who the page says is signing in (data-username, data-user-id on the form),
 * absent when it does not say. The background then answers only for codes kept for that user.
 */
export type ContentRequest =
  | { type: typeof AUTOFILL_STATUS; username?: string; userId?: string }
  | { type: typeof AUTOFILL_FILL; username?: string; userId?: string };

export type StatusReply =
  /** Codes kept for this server: `locked` means the popup must unlock them before a fill. */
  | { state: 'ready' | 'locked'; next: number }
  | { state: 'none_left' }
  /** Codes kept for this server, but for `owner`, not the user signing in on the page. */
  | { state: 'other_user'; owner: string }
  /** Nothing kept for this server: the content script shows nothing. */
  | { state: 'off' };

export type FillReply =
  | { ok: true; number: number; code: string }
  | { ok: false; reason: 'locked' | 'none_left' | 'off' }
  | { ok: false; reason: 'other_user'; owner: string };

export type TriggerRequest = { type: typeof AUTOFILL_TRIGGER };

export type TriggerReply =
  | { filled: true; number: number }
  | {
      filled: false;
      /** hidden: the field (or the clicked button) is not plainly visible, so no code was asked for. */
      reason: 'no_field' | 'locked' | 'none_left' | 'off' | 'rejected' | 'busy' | 'hidden';
    }
  /** The kept codes are `owner`'s and the page signs in `user`: nothing was filled or handed out. */
  | { filled: false; reason: 'other_user'; owner: string; user: string };

const typeOf = (message: unknown): unknown =>
  typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;

export function isContentRequest(message: unknown): message is ContentRequest {
  const type = typeOf(message);
  if (type !== AUTOFILL_STATUS && type !== AUTOFILL_FILL) return false;
  const { username, userId } = message as { username?: unknown; userId?: unknown };
  const claim = (value: unknown) =>
    value === undefined || (typeof value === 'string' && value.length <= MAX_USERNAME_LENGTH);
  return claim(username) && claim(userId);
}

export function isTriggerRequest(message: unknown): message is TriggerRequest {
  return typeOf(message) === AUTOFILL_TRIGGER;
}
