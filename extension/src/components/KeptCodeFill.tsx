import { useCallback, useState } from 'preact/hooks';
import { t } from '../i18n';
import { browserVault, type SetFor } from '../vault';
import { useVaultState } from './use-vault-state';

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
  const load = useCallback(() => browserVault().setFor(serverUrl, { username }), [serverUrl, username]);
  const kept = useVaultState<SetFor>(load);
  const [busy, setBusy] = useState(false);

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
