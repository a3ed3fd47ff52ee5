/**
 * Copying a secret (backup codes, a client secret) from an extension page: the page may close long
 * before the clipboard should be cleared, so the background clears it later. It gets only a digest,
 * never the text, and clears only if the clipboard still holds what was copied.
 */
import { sha256Hex } from './digest';
import { sendToBackground } from './messages';

/** `cleared-later`: copied, cleared in CLIPBOARD_CLEAR_MS; `kept`: copied, not set to clear; `failed`: not copied. */
export type CopyOutcome = 'cleared-later' | 'kept' | 'failed';

export async function copySecret(text: string): Promise<CopyOutcome> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    return 'failed';
  }
  try {
    await sendToBackground({ type: 'clipboard:clear-later', digest: await sha256Hex(text) });
    return 'cleared-later';
  } catch {
    return 'kept';
  }
}
