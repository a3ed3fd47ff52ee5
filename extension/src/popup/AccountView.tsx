import { useCallback, useEffect, useState } from 'preact/hooks';
import type { Me } from '../../../shared/api';
import { showCodesLeft } from '../badge';
import { ErrorAlert, Notice } from '../components/Alert';
import { ChangePassword } from '../components/ChangePassword';
import type { Session } from '../components/SessionGate';
import { isSessionExpired } from '../errors';
import { t } from '../i18n';
import { browserVault } from '../vault';
import { BackupCodeStatus } from './BackupCodeStatus';
import { CodeUseNotice } from './CodeUseNotice';
import { GenerateCodes } from './GenerateCodes';
import { KeptCodes } from './KeptCodes';

function mfaState(mfa: Me['mfa']): string {
  if (!mfa.enabled) return t('mfaOff');
  return mfa.enrolled ? t('mfaAuthenticatorReady') : t('mfaAuthenticatorPending');
}

/** The signed-in user's MFA and backup-code status, and the way to a new set. */
export function AccountView({ session }: { session: Session }) {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [generating, setGenerating] = useState(false);
  const [changingPassword, setChangingPassword] = useState(false);
  const [passwordChanged, setPasswordChanged] = useState(false);

  const load = useCallback(async () => {
    setError(null);
    try {
      const loaded = await session.api.me();
      // The kept codes learn which numbers the server has spent before anything shows them.
      await browserVault()
        .applyServerStatus(session.serverUrl, loaded.user, loaded.backupCodes)
        .catch(() => null);
      setMe(loaded);
      await showCodesLeft(loaded.backupCodes);
    } catch (caught) {
      if (isSessionExpired(caught)) session.expire(caught);
      else setError(caught);
    }
  }, [session]);

  useEffect(() => {
    load();
  }, [load]);

  if (!me) {
    return error ? (
      <div class="stack">
        <ErrorAlert error={error} />
        <button type="button" onClick={load}>
          {t('retry')}
        </button>
        <button type="button" class="link" onClick={session.signOut}>
          {t('signOut')}
        </button>
      </div>
    ) : (
      <p class="muted">{t('loading')}</p>
    );
  }

  if (me.mustChangePassword || changingPassword) {
    return (
      <div class="stack">
        <ChangePassword
          session={session}
          forced={me.mustChangePassword}
          onCancel={me.mustChangePassword ? undefined : () => setChangingPassword(false)}
          onDone={() => {
            // The renewed session reloads the account; until then it is known to be free.
            setMe({ ...me, mustChangePassword: false });
            setChangingPassword(false);
            setPasswordChanged(true);
          }}
        />
        {me.mustChangePassword && (
          <button type="button" class="link" onClick={session.signOut}>
            {t('signOut')}
          </button>
        )}
      </div>
    );
  }

  if (generating) {
    return (
      <GenerateCodes
        session={session}
        me={me}
        onCancel={() => setGenerating(false)}
        onDone={() => {
          setGenerating(false);
          load();
        }}
      />
    );
  }

  const { backupCodes } = me;
  // MFA "None" under "optional per user": only an admin can change that, so say who.
  const offForUser = backupCodes.reason?.code === 'mfa_off_for_user';
  return (
    <div class="stack">
      <p>{t('signedInAs', me.user.username, new URL(session.serverUrl).host)}</p>
      {session.backupCodesLeft !== null && (
        <Notice tone="warning">{t('signedInWithBackupCode', session.backupCodesLeft)}</Notice>
      )}
      <CodeUseNotice session={session} />
      <section class="card" aria-labelledby="mfa-heading">
        <h2 id="mfa-heading">{t('mfaHeading')}</h2>
        <p>{mfaState(me.mfa)}</p>
        {offForUser && <p>{t('mfaAskAdmin')}</p>}
      </section>
      <section class="card" aria-labelledby="codes-heading">
        <h2 id="codes-heading">{t('backupCodesHeading')}</h2>
        <BackupCodeStatus status={backupCodes} />
        {backupCodes.allowed ? (
          <button type="button" class="primary" onClick={() => setGenerating(true)}>
            {backupCodes.total > 0 ? t('generateNewSet') : t('generateFirstSet')}
          </button>
        ) : (
          backupCodes.reason && (
            <p class="muted">{offForUser ? t('backupCodesNeedMfa') : backupCodes.reason.message}</p>
          )
        )}
      </section>
      <KeptCodes serverUrl={session.serverUrl} me={me} />
      <section class="card" aria-labelledby="password-heading">
        <h2 id="password-heading">{t('passwordHeading')}</h2>
        {passwordChanged && <Notice tone="success">{t('passwordChanged')}</Notice>}
        <button type="button" onClick={() => setChangingPassword(true)}>
          {t('changePasswordTitle')}
        </button>
      </section>
      <ErrorAlert error={error} />
      <button type="button" onClick={session.signOut}>
        {t('signOut')}
      </button>
    </div>
  );
}
