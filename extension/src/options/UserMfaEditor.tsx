import { useState } from 'preact/hooks';
import type { AdminUser, UpdateUserRequest } from '../../../shared/api';
import { ConfirmButton } from '../components/ConfirmButton';
import { useFocusOnMount } from '../components/focus';
import { type MessageKey, t } from '../i18n';

type Choice = 'none' | 'now' | 'later';
type MfaChange = NonNullable<UpdateUserRequest['mfa']>;

const CHOICES: { value: Choice; label: MessageKey; hint: MessageKey }[] = [
  { value: 'none', label: 'mfaChoiceOff', hint: 'mfaChoiceOffHint' },
  { value: 'now', label: 'mfaChoiceNow', hint: 'mfaChoiceNowHint' },
  { value: 'later', label: 'mfaChoiceLater', hint: 'mfaChoiceLaterHint' },
];

const CHANGES: Record<Choice, MfaChange> = {
  none: { type: 'none' },
  now: { type: 'totp', configureLater: false },
  later: { type: 'totp', configureLater: true },
};

function currentChoice(user: AdminUser): Choice {
  if (user.mfa.type === 'none') return 'none';
  return user.mfa.configureLater && !user.mfa.enrolled ? 'later' : 'now';
}

interface UserMfaEditorProps {
  user: AdminUser;
  onApply: (change: MfaChange) => void;
  onCancel: () => void;
}

/** One user's MFA: off, an authenticator the admin sets up now, or one the user sets up at next sign-in. */
export function UserMfaEditor({ user, onApply, onCancel }: UserMfaEditorProps) {
  const [choice, setChoice] = useState<Choice>(currentChoice(user));
  // Any MFA change revokes the user's codes and ends their sessions (docs/API.md); an enrolled
  // authenticator stops working too: ask first whenever the user has something to lose.
  const destroys = user.mfa.enrolled || user.backupCodes.remaining > 0;
  const name = `mfa-${user.id}`;
  const heading = useFocusOnMount<HTMLHeadingElement>(user.id);

  return (
    <section class="panel stack" aria-labelledby={`${name}-heading`}>
      <h3 id={`${name}-heading`} tabIndex={-1} ref={heading}>
        {t('mfaEditorTitle', user.username)}
      </h3>
      <fieldset>
        <legend>{t('mfaTypeLegend')}</legend>
        {CHOICES.map(({ value, label, hint }) => (
          <label class="choice" key={value}>
            <input
              type="radio"
              name={name}
              value={value}
              checked={choice === value}
              onChange={() => setChoice(value)}
            />
            <span>
              {t(label)}
              <span class="hint">{t(hint)}</span>
            </span>
          </label>
        ))}
      </fieldset>
      <div class="row">
        {destroys ? (
          <ConfirmButton
            question={t('mfaChangeQuestion', user.username)}
            confirmLabel={t('apply')}
            onConfirm={() => onApply(CHANGES[choice])}
          >
            {t('apply')}
          </ConfirmButton>
        ) : (
          <button type="button" class="primary" onClick={() => onApply(CHANGES[choice])}>
            {t('apply')}
          </button>
        )}
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </section>
  );
}
