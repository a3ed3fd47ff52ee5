import { useCallback, useEffect, useState } from 'preact/hooks';
import type { AdminUser, DamagedAccount, UpdatedUser } from '../../../shared/api';
import { ErrorAlert, Notice } from '../components/Alert';
import { AuthenticatorSecret } from '../components/AuthenticatorSecret';
import { ConfirmButton } from '../components/ConfirmButton';
import { useFocusOnMount } from '../components/focus';
import type { Session } from '../components/SessionGate';
import { isSessionExpired } from '../errors';
import { actionOn, formatDateTime, t } from '../i18n';
import { AdminTable } from './AdminTable';
import { CreateUserForm } from './CreateUserForm';
import { UserMfaEditor } from './UserMfaEditor';

interface UsersSectionProps {
  session: Session;
  currentUserId: string;
  onChanged: () => void;
  onUsersLoaded: (users: AdminUser[]) => void;
}

function mfaCell(user: AdminUser): string {
  if (user.mfa.type === 'none') return t('mfaOff');
  if (user.mfa.enrolled) return t('mfaAuthenticatorReady');
  return user.mfa.configureLater ? t('mfaConfigureLater') : t('mfaAuthenticatorPending');
}

/** Anything an unlock would clear: a lock, or a run of failures that is heading for one. */
const hasLockout = ({ lockout }: AdminUser) =>
  lockout.needsAdminUnlock || lockout.lockedUntil !== null || lockout.consecutiveFailures > 0;

function lockCell(user: AdminUser): string {
  const { lockout } = user;
  if (lockout.needsAdminUnlock) return t('lockedForAdmin');
  if (lockout.lockedUntil) return t('lockedUntilTime', formatDateTime(lockout.lockedUntil));
  if (lockout.consecutiveFailures > 0) return t('failuresInARow', lockout.consecutiveFailures);
  return t('notLocked');
}

/** Every account: who it is, its MFA and codes, and the actions an admin takes on it. */
export function UsersSection({ session, currentUserId, onChanged, onUsersLoaded }: UsersSectionProps) {
  const [users, setUsers] = useState<AdminUser[] | null>(null);
  const [damaged, setDamaged] = useState<DamagedAccount[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [editing, setEditing] = useState<AdminUser | null>(null);
  const [creating, setCreating] = useState(false);
  const [shownSecret, setShownSecret] = useState<{
    username: string;
    totp: NonNullable<UpdatedUser['totp']>;
  } | null>(null);
  const [shownPassword, setShownPassword] = useState<{ username: string; password: string } | null>(null);

  const secretHeading = useFocusOnMount<HTMLHeadingElement>(shownSecret);
  const passwordHeading = useFocusOnMount<HTMLHeadingElement>(shownPassword);

  const fail = useCallback(
    (caught: unknown) => (isSessionExpired(caught) ? session.expire(caught) : setError(caught)),
    [session],
  );

  const load = useCallback(async () => {
    try {
      const reply = await session.api.users();
      const loaded = reply.users;
      // A server before damage reporting sends no list.
      setDamaged(reply.damaged ?? []);
      setUsers(loaded);
      onUsersLoaded(loaded);
    } catch (caught) {
      fail(caught);
    }
  }, [session, fail, onUsersLoaded]);

  useEffect(() => {
    load();
  }, [load]);

  /** Runs one admin action (if any), then reloads the table and tells the user what happened. */
  const act = async (done: string, action?: () => Promise<unknown>) => {
    setError(null);
    setStatus(null);
    try {
      await action?.();
      setStatus(done);
      onChanged();
      await load();
    } catch (caught) {
      fail(caught);
    }
  };

  return (
    <section class="card" aria-labelledby="users-heading">
      <div class="row spread">
        <h2 id="users-heading">{t('usersHeading')}</h2>
        {!creating && (
          <button type="button" onClick={() => setCreating(true)}>
            {t('addUser')}
          </button>
        )}
      </div>
      {creating && (
        <CreateUserForm
          session={session}
          onCancel={() => setCreating(false)}
          onCreated={(username) => {
            setCreating(false);
            act(t('userCreated', username));
          }}
        />
      )}
      {shownSecret && (
        <section class="panel stack" aria-labelledby="secret-heading">
          <h3 id="secret-heading" tabIndex={-1} ref={secretHeading}>
            {t('secretShownOnceTitle', shownSecret.username)}
          </h3>
          <p>{t('secretShownOnce')}</p>
          <AuthenticatorSecret secret={shownSecret.totp.secret} otpauthUri={shownSecret.totp.otpauthUri} />
          <button type="button" class="primary" onClick={() => setShownSecret(null)}>
            {t('secretDone')}
          </button>
        </section>
      )}
      {shownPassword && (
        <section class="panel stack" aria-labelledby="temporary-password-heading">
          <h3 id="temporary-password-heading" tabIndex={-1} ref={passwordHeading}>
            {t('temporaryPasswordTitle', shownPassword.username)}
          </h3>
          <p>{t('temporaryPasswordShownOnce')}</p>
          <p>
            <code class="secret-text">{shownPassword.password}</code>
          </p>
          <button type="button" class="primary" onClick={() => setShownPassword(null)}>
            {t('secretDone')}
          </button>
        </section>
      )}
      <ErrorAlert error={error} />
      {status && <Notice tone="success">{status}</Notice>}
      {damaged.length > 0 && (
        <section class="panel stack" aria-labelledby="damaged-heading">
          <h3 id="damaged-heading">{t('damagedHeading')}</h3>
          <Notice tone="warning">{t('damagedNotice')}</Notice>
          <ul class="stack">
            {damaged.map((account) => (
              <li key={account.id} class="row spread">
                <span>{t('damagedAccount', account.username, account.reason)}</span>
                <ConfirmButton
                  question={t('deleteQuestion', account.username)}
                  confirmLabel={t('deleteConfirm')}
                  disabled={account.id === currentUserId}
                  label={actionOn(t('delete'), account.username)}
                  onConfirm={() =>
                    act(t('userDeleted', account.username), () => session.api.deleteUser(account.id))
                  }
                >
                  {t('delete')}
                </ConfirmButton>
              </li>
            ))}
          </ul>
        </section>
      )}
      {users === null ? (
        !error && <p class="muted">{t('loading')}</p>
      ) : (
        <AdminTable
          caption={t('usersHeading')}
          columns={[
            t('colUsername'),
            t('colRole'),
            t('colMfa'),
            t('colCodes'),
            t('colLastCodeUse'),
            t('colLockout'),
            t('colActions'),
          ]}
        >
          {users.map((user) => (
            <tr key={user.id}>
              <th scope="row">
                {user.username}
                {user.mustChangePassword && <span class="muted small"> ({t('mustChangePassword')})</span>}
              </th>
              <td>{user.role === 'admin' ? t('roleAdmin') : t('roleUser')}</td>
              <td>{mfaCell(user)}</td>
              <td>
                {user.backupCodes.total > 0
                  ? t('codesLeftShort', user.backupCodes.remaining, user.backupCodes.total)
                  : t('noCodes')}
              </td>
              <td>
                {user.backupCodes.lastUsedAt ? formatDateTime(user.backupCodes.lastUsedAt) : t('never')}
              </td>
              <td>{lockCell(user)}</td>
              <td>
                <div class="actions">
                  <button
                    type="button"
                    aria-label={actionOn(t('editMfa'), user.username)}
                    onClick={() => setEditing(user)}
                  >
                    {t('editMfa')}
                  </button>
                  <button
                    type="button"
                    aria-label={actionOn(t('unlock'), user.username)}
                    disabled={!hasLockout(user)}
                    onClick={() =>
                      act(t('userUnlocked', user.username), () => session.api.unlockUser(user.id))
                    }
                  >
                    {t('unlock')}
                  </button>
                  <ConfirmButton
                    question={t('revokeQuestion', user.username)}
                    confirmLabel={t('revokeConfirm')}
                    disabled={user.backupCodes.total === 0}
                    label={actionOn(t('revoke'), user.username)}
                    onConfirm={() =>
                      act(t('codesRevoked', user.username), () => session.api.revokeCodes(user.id))
                    }
                  >
                    {t('revoke')}
                  </ConfirmButton>
                  <ConfirmButton
                    question={t('resetPasswordQuestion', user.username)}
                    confirmLabel={t('resetPasswordConfirm')}
                    disabled={user.id === currentUserId}
                    label={actionOn(t('resetPassword'), user.username)}
                    onConfirm={() =>
                      act(t('passwordResetDone', user.username), async () => {
                        const reset = await session.api.resetPassword(user.id);
                        if (reset.password)
                          setShownPassword({ username: user.username, password: reset.password });
                      })
                    }
                  >
                    {t('resetPassword')}
                  </ConfirmButton>
                  <ConfirmButton
                    question={t('deleteQuestion', user.username)}
                    confirmLabel={t('deleteConfirm')}
                    disabled={user.id === currentUserId}
                    label={actionOn(t('delete'), user.username)}
                    onConfirm={() =>
                      act(t('userDeleted', user.username), () => session.api.deleteUser(user.id))
                    }
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
        <UserMfaEditor
          key={editing.id}
          user={editing}
          onCancel={() => setEditing(null)}
          onApply={(change) =>
            act(t('mfaUpdated', editing.username), async () => {
              const updated = await session.api.updateUser(editing.id, { mfa: change });
              setEditing(null);
              if (updated.totp) setShownSecret({ username: editing.username, totp: updated.totp });
            })
          }
        />
      )}
    </section>
  );
}
