import { useState } from 'preact/hooks';
import { Notice } from '../components/Alert';
import { Field } from '../components/Field';
import { t } from '../i18n';
import { browserVault, MAX_IDLE_MINUTES } from '../vault';

/** How long the kept codes stay unlocked without use. */
export function IdleSetting({ initial, onSaved }: { initial: number; onSaved: () => void | Promise<void> }) {
  const [value, setValue] = useState(String(initial));
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<number | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setSaved(null);
    const minutes = Number(value.trim());
    if (!/^\d+$/.test(value.trim()) || minutes < 1 || minutes > MAX_IDLE_MINUTES) {
      setError(t('idleInvalid'));
      return;
    }
    try {
      await browserVault().setIdleMinutes(minutes);
    } catch {
      setError(t('idleInvalid'));
      return;
    }
    setSaved(minutes);
    await onSaved();
  };

  return (
    // noValidate: our message at the field, in the user's language, rather than the browser's bubble.
    <form class="stack-tight" onSubmit={submit} noValidate>
      <Field
        label={t('idleLabel')}
        hint={t('idleHint')}
        type="number"
        inputMode="numeric"
        min={1}
        max={MAX_IDLE_MINUTES}
        value={value}
        onValue={(next) => {
          setValue(next);
          setError(null);
          setSaved(null);
        }}
        error={error}
      />
      <div class="row">
        <button type="submit">{t('apply')}</button>
      </div>
      {saved !== null && <Notice tone="success">{t('idleSaved', saved)}</Notice>}
    </form>
  );
}
