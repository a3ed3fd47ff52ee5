import { useEffect, useRef } from 'preact/hooks';

/**
 * Moves keyboard focus to an element when it appears (or `key` changes), so a panel that opens
 * elsewhere on the page is where a keyboard or screen-reader user lands, not lost behind them.
 */
export function useFocusOnMount<T extends HTMLElement>(key: unknown) {
  const ref = useRef<T>(null);
  useEffect(() => {
    if (key) ref.current?.focus();
  }, [key]);
  return ref;
}
