import { useState } from 'preact/hooks';
import type { Role } from '../../../shared/api';
import { ApiError } from '../api';
import { ErrorAlert } from '../components/Alert';
import { Field } from '../components/Field';
import type { Session } from '../components/SessionGate';
import { useSubmit } from '../components/use-submit';
import { fieldMessage, isSessionExpired } from '../errors';
import { t } from '../i18n';
import { type UserField, userFieldOf } from './field-errors';

interface CreateUserFormProps {
  session: Session;
  onCreated: (username: string) => void;
  onCancel: () => void;
}

export function CreateUserForm({ session, onCreated, onCancel }: CreateUserFormProps) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('user');
  // A password the admin chose is known to two people: by default the user replaces it first.
  const [temporary, setTemporary] = useState(true);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<UserField, string>>>({});
  const { submit, busy, error } = useSubmit(
    async () => {
      setFieldErrors({});
      await session.api.createUser({ username: username.trim(), password, role, temporary });
      onCreated(username.trim());
    },
    (caught) => {
      if (isSessionExpired(caught)) {
        session.expire(caught);
        return null;
      }
      const field = userFieldOf(caught);
      if (!field || !(caught instanceof ApiError)) return caught;
      setFieldErrors({ [field]: fieldMessage(caught) });
      return null;
    },
  );

  return (
    <form
      class="panel stack"
      onSubmit={submit}
      noValidate
      aria-labelledby="create-user-heading"
      aria-busy={busy}
    >
      <h3 id="create-user-heading">{t('addUser')}</h3>
      <Field
        label={t('usernameLabel')}
        value={username}
        onValue={setUsername}
        autocomplete="off"
        spellcheck={false}
        required
        error={fieldErrors.username}
      />
      <Field
        label={t('newPasswordLabel')}
        hint={t('newPasswordHint')}
        type="password"
        value={password}
        onValue={setPassword}
        autocomplete="new-password"
        required
        error={fieldErrors.password}
      />
      <label class="choice">
        <input
          type="checkbox"
          checked={temporary}
          onChange={(event) => setTemporary(event.currentTarget.checked)}
        />
        <span>
          {t('temporaryPasswordOption')}
          <span class="hint">{t('temporaryPasswordHint')}</span>
        </span>
      </label>
      <div class="field">
        <label for="create-user-role">{t('colRole')}</label>
        <select
          id="create-user-role"
          value={role}
          onChange={(event) => setRole(event.currentTarget.value as Role)}
          aria-invalid={fieldErrors.role ? true : undefined}
        >
          <option value="user">{t('roleUser')}</option>
          <option value="admin">{t('roleAdmin')}</option>
        </select>
        {fieldErrors.role && <p class="field-error">{fieldErrors.role}</p>}
      </div>
      <ErrorAlert error={error} />
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          {t('createUser')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}
