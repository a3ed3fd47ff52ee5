/**
 * Follows the backup-code field through a page's life: present on load, added later, shown when the
 * user switches to "Use a backup code" without a reload, or removed.
 */
import { isHostElement } from './button';
import { type CodeField, findCodeField, sameField } from './detect';

/** Attributes that can make a field appear, disappear or change what it is. */
const WATCHED_ATTRIBUTES = [
  'hidden',
  'style',
  'class',
  'type',
  'autocomplete',
  'name',
  'id',
  'placeholder',
  'aria-label',
  'disabled',
  'readonly',
  'maxlength',
];
/** Coalesces bursts of mutations (a framework re-rendering) into one scan. */
const SETTLE_MS = 50;

function onlyOurs(record: MutationRecord): boolean {
  const nodes = [...record.addedNodes, ...record.removedNodes];
  return (nodes.length > 0 && nodes.every(isHostElement)) || isHostElement(record.target);
}

/**
 * Calls `onChange` with the current field right away, then each time it changes (null when gone).
 * Returns a function that stops watching.
 */
export function watchCodeField(doc: Document, onChange: (field: CodeField | null) => void): () => void {
  let current: CodeField | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const scan = () => {
    timer = undefined;
    const found = findCodeField(doc);
    if (sameField(found, current)) return;
    current = found;
    onChange(found);
  };

  // The document's own window: the same as the global in a content script, and right for any Document.
  const view = doc.defaultView ?? window;
  const observer = new view.MutationObserver((records) => {
    // Our own button going in or out must not trigger another scan.
    if (records.every(onlyOurs) || timer !== undefined) return;
    timer = setTimeout(scan, SETTLE_MS);
  });
  observer.observe(doc.documentElement, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: WATCHED_ATTRIBUTES,
  });
  scan();

  return () => {
    observer.disconnect();
    if (timer !== undefined) clearTimeout(timer);
  };
}
