import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n';
import { browserVault, type SetFor } from '../vault';
import { onVaultChanged } from '../vault/changes';

interface KeptCodeFillProps {
  serverUrl: string;
  /** Who is signing in: only their kept set is offered. */
  username: string;
  /** A code was taken from the kept set (and marked used in this browser at once). */
  onFill: (number: number, code: string) => void;
}

/**
 * The extension's own sign-in at its backup-code step: "Use kept backup code #N" fills the field from
 * the set kept for the user signing in. The extension's own page, so no content script is involved.
 */
export function KeptCodeFill({ serverUrl, username, onFill }: KeptCodeFillProps) {
  const [kept, setKept] = useState<SetFor | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    const reload = () =>
      browserVault()
        .setFor(serverUrl, { username })
        .then((found) => live && setKept(found))
        .catch(() => undefined);
    reload();
    const stop = onVaultChanged(reload);
    return () => {
      live = false;
      stop();
    };
  }, [serverUrl, username]);

  if (!kept || kept.state === 'empty' || kept.state === 'other_user' || kept.next === null) return null;
  if (kept.state === 'locked') return <p class="hint">{t('signInKeptLocked')}</p>;
  return (
    <button
      type="button"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        const taken = await browserVault()
          .takeNext(serverUrl, { username })
          .catch(() => null);
        setBusy(false);
        if (taken?.ok) onFill(taken.number, taken.code);
      }}
    >
      {t('signInKeptFill', kept.next)}
    </button>
  );
}
