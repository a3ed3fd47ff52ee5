import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Application, ApplicationType } from '../../../shared/api';
import { ApiError } from '../api';
import { ErrorAlert } from '../components/Alert';
import { Field, TextAreaField } from '../components/Field';
import { useFocusOnMount } from '../components/focus';
import type { Session } from '../components/SessionGate';
import { useSubmit } from '../components/use-submit';
import { fieldMessage, isSessionExpired } from '../errors';
import { type MessageKey, t } from '../i18n';
import { type ApplicationField, applicationFieldOf } from './field-errors';

const TYPES: { value: ApplicationType; label: MessageKey; hint: MessageKey }[] = [
  { value: 'confidential', label: 'applicationConfidential', hint: 'applicationConfidentialHint' },
  { value: 'public', label: 'applicationPublic', hint: 'applicationPublicHint' },
];

/** What the form sends: URIs one per line, blank lines dropped. */
export interface ApplicationInput {
  name: string;
  type: ApplicationType;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
}

/** The URIs of a text box, and the line each came from, so an error about URI #n points at its line. */
function uriLines(text: string): { uris: string[]; lines: number[] } {
  const uris: string[] = [];
  const lines: number[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    uris.push(line.trim());
    lines.push(i + 1);
  });
  return { uris, lines };
}

type FieldErrors = Partial<Record<ApplicationField, string>>;

interface ApplicationFormProps {
  session: Session;
  /** The application being edited; none to register a new one. */
  editing?: Application;
  save: (input: ApplicationInput) => Promise<void>;
  onCancel: () => void;
}

/** Register an application, or edit one (its type cannot change: a secret comes with it or not). */
export function ApplicationForm({ session, editing, save, onCancel }: ApplicationFormProps) {
  const [name, setName] = useState(editing?.name ?? '');
  const [type, setType] = useState<ApplicationType>(editing?.type ?? 'confidential');
  const [redirectText, setRedirectText] = useState(editing?.redirectUris.join('\n') ?? '');
  const [logoutText, setLogoutText] = useState(editing?.postLogoutRedirectUris.join('\n') ?? '');
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const formRef = useRef<HTMLFormElement>(null);
  const headingId = useId();
  const heading = useFocusOnMount<HTMLHeadingElement>(editing?.id ?? 'new');

  useEffect(() => {
    // A refused value: the keyboard lands on the field that says why.
    formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [fieldErrors]);

  const redirect = uriLines(redirectText);
  const logout = uriLines(logoutText);

  const { submit, busy, error } = useSubmit(
    async () => {
      setFieldErrors({});
      await save({
        name: name.trim(),
        type,
        redirectUris: redirect.uris,
        postLogoutRedirectUris: logout.uris,
      });
    },
    (caught) => {
      if (isSessionExpired(caught)) {
        session.expire();
        return null;
      }
      const at = applicationFieldOf(caught);
      if (!at || !(caught instanceof ApiError)) return caught;
      const message = fieldMessage(caught);
      const lines =
        at.field === 'redirectUris'
          ? redirect.lines
          : at.field === 'postLogoutRedirectUris'
            ? logout.lines
            : [];
      const line = at.index === null ? undefined : lines[at.index];
      setFieldErrors({ [at.field]: line === undefined ? message : t('lineError', line, message) });
      return null;
    },
  );

  return (
    <form
      class="panel stack"
      ref={formRef}
      onSubmit={submit}
      noValidate
      aria-labelledby={headingId}
      aria-busy={busy}
    >
      <h3 id={headingId} tabIndex={-1} ref={heading}>
        {editing ? t('editApplicationFor', editing.name) : t('addApplication')}
      </h3>
      <Field
        label={t('applicationNameLabel')}
        hint={t('applicationNameHint')}
        value={name}
        onValue={setName}
        autocomplete="off"
        required
        error={fieldErrors.name}
      />
      {!editing && (
        <fieldset aria-describedby={fieldErrors.type ? `${headingId}-type-error` : undefined}>
          <legend>{t('applicationTypeLegend')}</legend>
          {TYPES.map(({ value, label, hint }) => (
            <label class="choice" key={value}>
              <input
                type="radio"
                name={`${headingId}-type`}
                value={value}
                checked={type === value}
                onChange={() => setType(value)}
              />
              <span>
                {t(label)}
                <span class="hint">{t(hint)}</span>
              </span>
            </label>
          ))}
          {fieldErrors.type && (
            <p class="field-error" id={`${headingId}-type-error`}>
              {fieldErrors.type}
            </p>
          )}
        </fieldset>
      )}
      <TextAreaField
        label={t('redirectUrisLabel')}
        hint={t('redirectUrisHint')}
        value={redirectText}
        onValue={setRedirectText}
        rows={3}
        spellcheck={false}
        autocomplete="off"
        required
        class="mono"
        error={fieldErrors.redirectUris}
      />
      <TextAreaField
        label={t('postLogoutUrisLabel')}
        hint={t('postLogoutUrisHint')}
        value={logoutText}
        onValue={setLogoutText}
        rows={2}
        spellcheck={false}
        autocomplete="off"
        class="mono"
        error={fieldErrors.postLogoutRedirectUris}
      />
      <ErrorAlert error={error} />
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          {editing ? t('saveApplication') : t('registerApplication')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}
