import { useEffect, useId, useState } from 'preact/hooks';
import type { MfaUsage, Policy } from '../../../shared/api';
import { ApiError } from '../api';
import { ErrorAlert, Notice } from '../components/Alert';
import { Field } from '../components/Field';
import type { Session } from '../components/SessionGate';
import { fieldMessage, isSessionExpired } from '../errors';
import { type MessageKey, t } from '../i18n';
import { type PolicyField, policyFieldOf } from './field-errors';

const USAGES: { value: MfaUsage; label: MessageKey; hint: MessageKey }[] = [
  { value: 'required', label: 'mfaUsageRequired', hint: 'mfaUsageRequiredHint' },
  { value: 'optional_per_user', label: 'mfaUsageOptional', hint: 'mfaUsageOptionalHint' },
  { value: 'skipped', label: 'mfaUsageSkipped', hint: 'mfaUsageSkippedHint' },
];

/** The form's state; numbers stay text while typed so an empty box is not silently 0. */
interface Draft {
  mfaUsage: MfaUsage;
  adminsMustUseMfa: boolean;
  enabled: boolean;
  count: string;
  warnWhenRemaining: string;
}

const toDraft = (policy: Policy): Draft => ({
  mfaUsage: policy.mfaUsage,
  adminsMustUseMfa: Boolean(policy.adminsMustUseMfa),
  enabled: policy.backupCodes.enabled,
  count: String(policy.backupCodes.count),
  warnWhenRemaining: String(policy.backupCodes.warnWhenRemaining),
});

const same = (a: Draft, b: Draft) =>
  a.mfaUsage === b.mfaUsage &&
  a.adminsMustUseMfa === b.adminsMustUseMfa &&
  a.enabled === b.enabled &&
  a.count.trim() === b.count.trim() &&
  a.warnWhenRemaining.trim() === b.warnWhenRemaining.trim();

/** Whole numbers only here; the ranges are the server's to check, and its message lands at the field. */
function wholeNumber(text: string): number | null {
  return /^\s*\d+\s*$/.test(text) ? Number(text) : null;
}

type FieldErrors = Partial<Record<PolicyField, string>>;

/** MFA usage and backup codes, saved as one policy: all of it or nothing. */
export function MultifactorSection({ session, onChanged }: { session: Session; onChanged: () => void }) {
  const [saved, setSaved] = useState<Policy | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [configuring, setConfiguring] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const panelId = useId();

  useEffect(() => {
    session.api
      .policy()
      .then((policy) => {
        setSaved(policy);
        setDraft(toDraft(policy));
      })
      .catch((caught) => (isSessionExpired(caught) ? session.expire(caught) : setError(caught)));
  }, [session]);

  if (!saved || !draft) {
    return (
      <section class="card" aria-labelledby="multifactor-heading">
        <h2 id="multifactor-heading">{t('multifactorHeading')}</h2>
        {error ? <ErrorAlert error={error} /> : <p class="muted">{t('loading')}</p>}
      </section>
    );
  }

  const changed = !same(draft, toDraft(saved));
  const edit = (change: Partial<Draft>) => {
    setDraft({ ...draft, ...change });
    setDone(false);
  };

  const save = async (event: Event) => {
    event.preventDefault();
    const count = wholeNumber(draft.count);
    const warnWhenRemaining = wholeNumber(draft.warnWhenRemaining);
    const local: FieldErrors = {};
    if (count === null) local.count = t('wholeNumberNeeded');
    if (warnWhenRemaining === null) local.warnWhenRemaining = t('wholeNumberNeeded');
    setFieldErrors(local);
    setError(null);
    if (count === null || warnWhenRemaining === null) {
      setConfiguring(true);
      return;
    }
    setBusy(true);
    try {
      const policy = await session.api.savePolicy({
        mfaUsage: draft.mfaUsage,
        backupCodes: { enabled: draft.enabled, count, warnWhenRemaining },
        adminsMustUseMfa: draft.adminsMustUseMfa,
      });
      setSaved(policy);
      setDraft(toDraft(policy));
      setDone(true);
      onChanged();
    } catch (caught) {
      if (isSessionExpired(caught)) return session.expire(caught);
      const field = policyFieldOf(caught);
      if (field && caught instanceof ApiError) {
        setFieldErrors({ [field]: fieldMessage(caught) });
        if (field !== 'mfaUsage') setConfiguring(true);
      } else {
        setError(caught);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="multifactor-heading">
      <h2 id="multifactor-heading">{t('multifactorHeading')}</h2>
      <form class="stack" onSubmit={save} noValidate aria-busy={busy}>
        <fieldset aria-describedby={fieldErrors.mfaUsage ? `${panelId}-usage-error` : undefined}>
          <legend>{t('mfaUsageLegend')}</legend>
          {USAGES.map(({ value, label, hint }) => (
            <label class="choice" key={value}>
              <input
                type="radio"
                name="mfaUsage"
                value={value}
                checked={draft.mfaUsage === value}
                onChange={() => edit({ mfaUsage: value })}
              />
              <span>
                {t(label)}
                <span class="hint">{t(hint)}</span>
              </span>
            </label>
          ))}
          {fieldErrors.mfaUsage && (
            <p class="field-error" id={`${panelId}-usage-error`}>
              {fieldErrors.mfaUsage}
            </p>
          )}
        </fieldset>
        <label class="choice">
          <input
            type="checkbox"
            checked={draft.adminsMustUseMfa}
            onChange={(event) => edit({ adminsMustUseMfa: event.currentTarget.checked })}
          />
          <span>
            {t('adminsMustUseMfaOption')}
            <span class="hint">{t('adminsMustUseMfaHint')}</span>
          </span>
        </label>
        <div class="row">
          <label class="choice">
            <input
              type="checkbox"
              checked={draft.enabled}
              onChange={(event) => edit({ enabled: event.currentTarget.checked })}
            />
            <span>{t('backupCodesOption')}</span>
          </label>
          <button
            type="button"
            aria-expanded={configuring}
            aria-controls={panelId}
            onClick={() => setConfiguring(!configuring)}
          >
            {t('configure')}
          </button>
        </div>
        <div id={panelId} class="panel stack" hidden={!configuring}>
          <Field
            label={t('codeCountLabel')}
            hint={t('codeCountHint')}
            type="number"
            inputMode="numeric"
            min={1}
            max={20}
            value={draft.count}
            onValue={(count) => edit({ count })}
            error={fieldErrors.count}
          />
          <Field
            label={t('warnThresholdLabel')}
            hint={t('warnThresholdHint')}
            type="number"
            inputMode="numeric"
            min={0}
            max={20}
            value={draft.warnWhenRemaining}
            onValue={(warnWhenRemaining) => edit({ warnWhenRemaining })}
            error={fieldErrors.warnWhenRemaining}
          />
        </div>
        <ErrorAlert error={error} />
        {done && <Notice tone="success">{t('policySaved')}</Notice>}
        <div class="row">
          <button type="submit" class="primary" disabled={!changed || busy}>
            {t('save')}
          </button>
          <button
            type="button"
            disabled={!changed || busy}
            onClick={() => {
              setDraft(toDraft(saved));
              setFieldErrors({});
              setError(null);
            }}
          >
            {t('discardChanges')}
          </button>
        </div>
      </form>
    </section>
  );
}
