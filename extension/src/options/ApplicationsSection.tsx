import { useCallback, useEffect, useState } from 'preact/hooks';
import type { Application } from '../../../shared/api';
import { CLIPBOARD_CLEAR_MS } from '../build-constants';
import { copySecret } from '../clipboard';
import { ErrorAlert, Notice } from '../components/Alert';
import { ConfirmButton } from '../components/ConfirmButton';
import { useFocusOnMount } from '../components/focus';
import type { Session } from '../components/SessionGate';
import { isSessionExpired } from '../errors';
import { actionOn, formatDateTime, t } from '../i18n';
import { AdminTable } from './AdminTable';
import { ApplicationForm, type ApplicationInput } from './ApplicationForm';

/** A client secret as the server gave it: in memory only, until the admin closes the panel. */
interface ShownSecret {
  name: string;
  clientId: string;
  secret: string;
}

/**
 * The applications (OpenID Connect clients) that sign their users in through SpareKey: register,
 * edit, rotate the secret, delete (docs/OIDC.md).
 */
export function ApplicationsSection({ session, onChanged }: { session: Session; onChanged: () => void }) {
  const [applications, setApplications] = useState<Application[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Application | null>(null);
  const [shownSecret, setShownSecret] = useState<ShownSecret | null>(null);

  const fail = useCallback(
    (caught: unknown) => (isSessionExpired(caught) ? session.expire() : setError(caught)),
    [session],
  );

  const load = useCallback(async () => {
    try {
      setApplications((await session.api.applications()).applications);
    } catch (caught) {
      fail(caught);
    }
  }, [session, fail]);

  useEffect(() => {
    load();
  }, [load]);

  /** After a change: say what happened, reload the table, and let the audit log catch up. */
  const changed = async (done: string) => {
    setError(null);
    setStatus(done);
    onChanged();
    await load();
  };

  /** Runs an action started from the table; a failure is shown above it. */
  const act = async (action: () => Promise<string>) => {
    setError(null);
    setStatus(null);
    try {
      await changed(await action());
    } catch (caught) {
      fail(caught);
    }
  };

  const register = async (input: ApplicationInput) => {
    const created = await session.api.createApplication(input);
    setCreating(false);
    const { name, clientId } = created.application;
    if (created.clientSecret) setShownSecret({ name, clientId, secret: created.clientSecret });
    await changed(
      created.clientSecret ? t('applicationRegistered', name) : t('applicationRegisteredPublic', name),
    );
  };

  const update = (application: Application) => async (input: ApplicationInput) => {
    const { application: saved } = await session.api.updateApplication(application.id, {
      name: input.name,
      redirectUris: input.redirectUris,
      postLogoutRedirectUris: input.postLogoutRedirectUris,
    });
    setEditing(null);
    await changed(t('applicationSaved', saved.name));
  };

  const rotate = (application: Application) =>
    act(async () => {
      const { clientSecret } = await session.api.rotateApplicationSecret(application.id);
      setShownSecret({ name: application.name, clientId: application.clientId, secret: clientSecret });
      return t('secretRotated', application.name);
    });

  const remove = (application: Application) =>
    act(async () => {
      await session.api.deleteApplication(application.id);
      if (editing?.id === application.id) setEditing(null);
      if (shownSecret?.clientId === application.clientId) setShownSecret(null);
      return t('applicationDeleted', application.name);
    });

  return (
    <section class="card" aria-labelledby="applications-heading">
      <div class="row spread">
        <h2 id="applications-heading">{t('applicationsHeading')}</h2>
        {!creating && (
          <button
            type="button"
            onClick={() => {
              setEditing(null);
              setCreating(true);
            }}
          >
            {t('addApplication')}
          </button>
        )}
      </div>
      <p class="muted">{t('applicationsIntro')}</p>
      {creating && <ApplicationForm session={session} save={register} onCancel={() => setCreating(false)} />}
      {shownSecret && <SecretOnce shown={shownSecret} onDone={() => setShownSecret(null)} />}
      <ErrorAlert error={error} />
      {status && <Notice tone="success">{status}</Notice>}
      {applications === null ? (
        !error && <p class="muted">{t('loading')}</p>
      ) : applications.length === 0 ? (
        <p class="muted">{t('noApplications')}</p>
      ) : (
        <AdminTable
          caption={t('applicationsHeading')}
          columns={[
            t('colName'),
            t('colType'),
            t('colClientId'),
            t('colRedirectUris'),
            t('colCreated'),
            t('colActions'),
          ]}
        >
          {applications.map((application) => (
            <tr key={application.id}>
              <th scope="row">{application.name}</th>
              <td>
                {application.type === 'confidential' ? t('applicationConfidential') : t('applicationPublic')}
              </td>
              <td>
                <code class="secret-text">{application.clientId}</code>
              </td>
              <td>
                <ul class="plain">
                  {application.redirectUris.map((uri) => (
                    <li key={uri}>
                      <code class="uri">{uri}</code>
                    </li>
                  ))}
                </ul>
              </td>
              <td>
                <time dateTime={application.createdAt}>{formatDateTime(application.createdAt)}</time>
              </td>
              <td>
                <div class="actions">
                  <button
                    type="button"
                    aria-label={actionOn(t('editApplication'), application.name)}
                    onClick={() => {
                      setCreating(false);
                      setEditing(application);
                    }}
                  >
                    {t('editApplication')}
                  </button>
                  {application.type === 'confidential' && (
                    <ConfirmButton
                      question={t('rotateSecretQuestion', application.name)}
                      confirmLabel={t('rotateSecretConfirm')}
                      label={actionOn(t('rotateSecret'), application.name)}
                      onConfirm={() => rotate(application)}
                    >
                      {t('rotateSecret')}
                    </ConfirmButton>
                  )}
                  <ConfirmButton
                    question={t('deleteApplicationQuestion', application.name)}
                    confirmLabel={t('deleteConfirm')}
                    label={actionOn(t('delete'), application.name)}
                    onConfirm={() => remove(application)}
                  >
                    {t('delete')}
                  </ConfirmButton>
                </div>
              </td>
            </tr>
          ))}
        </AdminTable>
      )}
      {editing && (
        <ApplicationForm
          key={editing.id}
          session={session}
          editing={editing}
          save={update(editing)}
          onCancel={() => setEditing(null)}
        />
      )}
    </section>
  );
}

/** The client secret, shown this once (after registration or rotation): the server keeps only its hash. */
function SecretOnce({ shown, onDone }: { shown: ShownSecret; onDone: () => void }) {
  const [copied, setCopied] = useState<{ tone: 'success' | 'warning'; text: string } | null>(null);
  const heading = useFocusOnMount<HTMLHeadingElement>(shown);

  const copy = async () => {
    const outcome = await copySecret(shown.secret);
    if (outcome === 'failed') setCopied({ tone: 'warning', text: t('secretCopyFailed') });
    else if (outcome === 'kept') setCopied({ tone: 'warning', text: t('secretCopiedNoClear') });
    else setCopied({ tone: 'success', text: t('copiedWillClear', Math.round(CLIPBOARD_CLEAR_MS / 1000)) });
  };

  return (
    <section class="panel stack" aria-labelledby="client-secret-heading">
      <h3 id="client-secret-heading" tabIndex={-1} ref={heading}>
        {t('clientSecretTitle', shown.name)}
      </h3>
      <p class="alert alert-warning">{t('clientSecretOnce')}</p>
      <p>
        {t('clientIdLabel')}: <code class="secret-text">{shown.clientId}</code>
      </p>
      <p>
        {t('clientSecretLabel')}: <code class="secret-text">{shown.secret}</code>
      </p>
      <div class="row">
        <button type="button" onClick={copy}>
          {t('copyButton')}
        </button>
        <button type="button" class="primary" onClick={onDone}>
          {t('secretDone')}
        </button>
      </div>
      {copied && <Notice tone={copied.tone}>{copied.text}</Notice>}
    </section>
  );
}
