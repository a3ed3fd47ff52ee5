import { useState } from 'preact/hooks';
import { ApiError } from '../api';
import { fieldMessage, isSessionExpired } from '../errors';
import { t } from '../i18n';
import { ErrorAlert, Notice } from './Alert';
import { Field } from './Field';
import type { Session } from './SessionGate';
import { useSubmit } from './use-submit';

interface ChangePasswordProps {
  session: Session;
  /** The password was reset or generated: there is no way around this form but signing out. */
  forced: boolean;
  onCancel?: () => void;
  onDone: () => void;
}

type FieldErrors = { current?: string; next?: string; confirm?: string };

/**
 * Current password, new one, the new one again. The server's rule decides (its sentence is shown at
 * the new password); the form only catches two new passwords that differ. Every session of the
 * account ends with the change, so the session is renewed with the token the server returns.
 */
export function ChangePassword({ session, forced, onCancel, onDone }: ChangePasswordProps) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});

  const { submit, busy, error } = useSubmit(
    async () => {
      setFieldErrors({});
      if (next !== confirm) {
        setFieldErrors({ confirm: t('passwordsDiffer') });
        return;
      }
      const { token } = await session.api.changePassword(current, next);
      await session.renew(token);
      onDone();
    },
    (caught) => {
      if (isSessionExpired(caught)) {
        session.expire();
        return null;
      }
      if (caught instanceof ApiError && caught.field === 'currentPassword') {
        setCurrent('');
        setFieldErrors({ current: t('errorCurrentPasswordWrong') });
        return null;
      }
      if (caught instanceof ApiError && caught.field === 'newPassword') {
        setFieldErrors({ next: fieldMessage(caught) });
        return null;
      }
      return caught;
    },
  );

  return (
    <form class="stack" onSubmit={submit} aria-busy={busy} aria-labelledby="change-password-heading">
      <h2 id="change-password-heading">{t('changePasswordTitle')}</h2>
      {forced && <Notice tone="warning">{t('passwordChangeForced')}</Notice>}
      <Field
        label={t('currentPasswordLabel')}
        type="password"
        value={current}
        onValue={setCurrent}
        autocomplete="current-password"
        error={fieldErrors.current}
        required
        autoFocus
      />
      <Field
        label={t('changeNewPasswordLabel')}
        type="password"
        value={next}
        onValue={setNext}
        autocomplete="new-password"
        hint={t('passwordRuleHint')}
        error={fieldErrors.next}
        required
      />
      <Field
        label={t('newPasswordAgainLabel')}
        type="password"
        value={confirm}
        onValue={setConfirm}
        autocomplete="new-password"
        error={fieldErrors.confirm}
        required
      />
      <ErrorAlert error={error} />
      <div class="row">
        <button type="submit" class="primary" disabled={busy || !current || !next || !confirm}>
          {t('changePasswordButton')}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            {t('cancel')}
          </button>
        )}
      </div>
    </form>
  );
}
