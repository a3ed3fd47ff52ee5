/**
 * Clipboard access through a DOM document: the offscreen document on Chromium (a service worker has
 * no DOM) and the background page on Firefox. execCommand works there without focus, which the
 * async Clipboard API requires; clipboardRead and clipboardWrite permit it.
 */
import { sha256Hex } from './digest';

function readClipboard(): string {
  const area = document.createElement('textarea');
  document.body.append(area);
  area.focus();
  document.execCommand('paste');
  const text = area.value;
  area.remove();
  return text;
}

function emptyClipboard(): void {
  // A copy event whose handler supplies the data is the one way to put an empty string there.
  const supplyEmpty = (event: ClipboardEvent) => {
    event.clipboardData?.setData('text/plain', '');
    event.preventDefault();
  };
  document.addEventListener('copy', supplyEmpty);
  try {
    document.execCommand('copy');
  } finally {
    document.removeEventListener('copy', supplyEmpty);
  }
}

/** Empties the clipboard only if it still holds what was copied: anything copied since is left alone. */
export async function clearClipboardIfHolds(digest: string): Promise<boolean> {
  if ((await sha256Hex(readClipboard())) !== digest) return false;
  emptyClipboard();
  return true;
}
