import { useEffect, useState } from 'preact/hooks';
import { onVaultChanged } from '../vault/changes';

/** Follows the vault whichever context changes it: `load` runs now and after every change. */
export function useVaultState<T>(load: () => Promise<T>): T | null {
  const [state, setState] = useState<T | null>(null);
  useEffect(() => {
    let live = true;
    const reload = () =>
      load()
        .then((loaded) => live && setState(loaded))
        .catch(() => undefined);
    reload();
    const stop = onVaultChanged(reload);
    return () => {
      live = false;
      stop();
    };
  }, [load]);
  return state;
}
