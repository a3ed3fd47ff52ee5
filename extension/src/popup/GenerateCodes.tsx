import { useState } from 'preact/hooks';
import type { GeneratedCodes, Me } from '../../../shared/api';
import { ErrorAlert } from '../components/Alert';
import { Field } from '../components/Field';
import type { Session } from '../components/SessionGate';
import { useSubmit } from '../components/use-submit';
import { isSessionExpired } from '../errors';
import { t } from '../i18n';
import { NewCodes } from './NewCodes';

interface GenerateCodesProps {
  session: Session;
  me: Me;
  onCancel: () => void;
  onDone: () => void;
}

/** Confirm with the password, then show the new set once. */
export function GenerateCodes({ session, me, onCancel, onDone }: GenerateCodesProps) {
  const [password, setPassword] = useState('');
  const [generated, setGenerated] = useState<GeneratedCodes | null>(null);
  const { submit, busy, error } = useSubmit(
    async () => {
      const result = await session.api.generateCodes(password);
      setPassword('');
      setGenerated(result);
    },
    (caught) => {
      setPassword('');
      if (!isSessionExpired(caught)) return caught;
      session.expire(caught);
      return null;
    },
  );

  if (generated) {
    return (
      <NewCodes
        exported={{ serverUrl: session.serverUrl, username: me.user.username, ...generated }}
        onStored={onDone}
      />
    );
  }

  return (
    <form class="stack" onSubmit={submit} aria-busy={busy}>
      <h2>{t('generateTitle')}</h2>
      <p class={me.backupCodes.total > 0 ? 'alert alert-warning' : undefined}>
        {me.backupCodes.total > 0 ? t('generateReplaces') : t('generateIntro')}
      </p>
      <Field
        label={t('confirmPasswordLabel')}
        type="password"
        value={password}
        onValue={setPassword}
        autocomplete="current-password"
        required
        autoFocus
      />
      <ErrorAlert error={error} />
      <div class="row">
        <button type="submit" class="primary" disabled={busy || !password}>
          {t('generateButton')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}
