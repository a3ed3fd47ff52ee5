import { useState } from 'preact/hooks';
import { Field } from '../components/Field';
import { t } from '../i18n';
import { type Account, browserVault } from '../vault';

/**
 * The passphrase that opens `account`'s kept codes, in this browser alone: no server is asked, so it
 * works signed out and offline. A wrong one is said at the field and changes nothing.
 */
export function UnlockForm({
  account,
  onUnlocked,
}: {
  account: Account;
  onUnlocked: () => void | Promise<void>;
}) {
  const [passphrase, setPassphrase] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const result = await browserVault()
      .unlock(account, passphrase)
      .catch(() => null);
    // The passphrase is not kept in the page's state longer than the attempt.
    setPassphrase('');
    setBusy(false);
    if (result?.ok) await onUnlocked();
    else setError(t('wrongPassphrase'));
  };

  return (
    <form class="stack" onSubmit={submit} aria-busy={busy}>
      <Field
        label={t('passphraseLabel')}
        type="password"
        autocomplete="current-password"
        value={passphrase}
        onValue={(value) => {
          setPassphrase(value);
          setError(null);
        }}
        error={error}
        required
      />
      <div class="row">
        <button type="submit" disabled={busy || !passphrase}>
          {t('unlockButton')}
        </button>
      </div>
    </form>
  );
}
