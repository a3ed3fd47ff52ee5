import { useId } from 'preact/hooks';
import type { ExportedCodes } from '../codes-export';
import { Field } from '../components/Field';
import { t } from '../i18n';
import { browserVault, MIN_PASSPHRASE_LENGTH } from '../vault';

export interface KeepChoice {
  wanted: boolean;
  passphrase: string;
  repeat: string;
}

export type KeepErrors = { passphrase?: string; repeat?: string };

export type KeepOutcome = { ok: true } | { ok: false; errors: KeepErrors; failed?: boolean };

/** Seals the new set in the vault under the chosen passphrase, or says at which field it went wrong. */
export async function keepCodes(exported: ExportedCodes, choice: KeepChoice): Promise<KeepOutcome> {
  if (choice.passphrase.length < MIN_PASSPHRASE_LENGTH) {
    return { ok: false, errors: { passphrase: t('passphraseWeak') } };
  }
  // A typo here would lock the user out of their own kept codes: ask twice.
  if (choice.repeat !== choice.passphrase) return { ok: false, errors: { repeat: t('passphraseMismatch') } };
  try {
    const result = await browserVault().keep(exported.codes, choice.passphrase, {
      server: exported.serverUrl,
      username: exported.username,
      generatedAt: exported.generatedAt,
    });
    if (result.ok) return { ok: true };
    return result.reason === 'weak_passphrase'
      ? { ok: false, errors: { passphrase: t('passphraseWeak') } }
      : { ok: false, errors: {}, failed: true };
  } catch {
    return { ok: false, errors: {}, failed: true };
  }
}

interface KeepCodesProps {
  choice: KeepChoice;
  errors: KeepErrors;
  onChange: (change: Partial<KeepChoice>) => void;
}

/** "Keep these codes in this browser for autofill", and the passphrase that seals them. */
export function KeepCodes({ choice, errors, onChange }: KeepCodesProps) {
  const hintId = useId();
  return (
    <div class="stack">
      <div class="stack-tight">
        <label class="choice">
          <input
            type="checkbox"
            checked={choice.wanted}
            aria-describedby={hintId}
            onChange={(event) => onChange({ wanted: event.currentTarget.checked })}
          />
          <span>{t('keepLabel')}</span>
        </label>
        <p class="hint" id={hintId}>
          {t('keepHint')}
        </p>
      </div>
      {choice.wanted && (
        <div class="panel stack">
          <Field
            label={t('passphraseLabel')}
            hint={t('passphraseHint')}
            type="password"
            autocomplete="new-password"
            value={choice.passphrase}
            onValue={(passphrase) => onChange({ passphrase })}
            error={errors.passphrase}
            required
            autoFocus
          />
          <Field
            label={t('passphraseRepeatLabel')}
            type="password"
            autocomplete="new-password"
            value={choice.repeat}
            onValue={(repeat) => onChange({ repeat })}
            error={errors.repeat}
            required
          />
        </div>
      )}
    </div>
  );
}
