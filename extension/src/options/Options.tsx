import { useEffect, useState } from 'preact/hooks';
import browser from 'webextension-polyfill';
import type { AdminUser, Me } from '../../../shared/api';
import { ErrorAlert, Notice } from '../components/Alert';
import { ChangePassword } from '../components/ChangePassword';
import { type Session, SessionGate } from '../components/SessionGate';
import { isSessionExpired } from '../errors';
import { t } from '../i18n';
import { ApplicationsSection } from './ApplicationsSection';
import { AuditLog } from './AuditLog';
import { MultifactorSection } from './MultifactorSection';
import { UsersSection } from './UsersSection';

export function Options() {
  return (
    <main class="options">
      <h1 class="brand">{t('optionsTitle')}</h1>
      <SessionGate>{(session) => <AdminConsole session={session} />}</SessionGate>
      {/* The installed version: how an administrator sees that an update reached this browser. */}
      <footer class="version">{t('extensionVersion', browser.runtime.getManifest().version)}</footer>
    </main>
  );
}

/** The administration sections, for admins only; anyone else is told plainly. */
function AdminConsole({ session }: { session: Session }) {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Bumped after a change to users or applications, so the audit log shows the events it produced.
  const [revision, setRevision] = useState(0);
  const [users, setUsers] = useState<AdminUser[]>([]);

  useEffect(() => {
    session.api
      .me()
      .then(setMe)
      .catch((caught) => (isSessionExpired(caught) ? session.expire(caught) : setError(caught)));
  }, [session]);

  const signOut = (
    <button type="button" onClick={session.signOut}>
      {t('signOut')}
    </button>
  );

  if (error) {
    return (
      <div class="stack">
        <ErrorAlert error={error} />
        {signOut}
      </div>
    );
  }
  if (!me) return <p class="muted">{t('loading')}</p>;
  if (me.mustChangePassword) {
    // The renewed session loads the account again, and with it this console.
    return (
      <div class="stack">
        <ChangePassword session={session} forced onDone={() => setMe(null)} />
        {signOut}
      </div>
    );
  }
  if (me.user.role !== 'admin') {
    return (
      <div class="stack">
        <p>{t('adminsOnly', me.user.username)}</p>
        {signOut}
      </div>
    );
  }
  return (
    <div class="stack-wide">
      <div class="row spread">
        <p>{t('signedInAs', me.user.username, new URL(session.serverUrl).host)}</p>
        {signOut}
      </div>
      {!(me.mfa.enabled && me.mfa.enrolled) && <Notice tone="warning">{t('adminWithoutMfaWarning')}</Notice>}
      <MultifactorSection session={session} onChanged={() => setRevision((n) => n + 1)} />
      <UsersSection
        session={session}
        currentUserId={me.user.id}
        onChanged={() => setRevision((n) => n + 1)}
        onUsersLoaded={setUsers}
      />
      <ApplicationsSection session={session} onChanged={() => setRevision((n) => n + 1)} />
      <AuditLog session={session} users={users} revision={revision} />
    </div>
  );
}
