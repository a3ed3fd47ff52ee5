import { useState } from 'preact/hooks';
import type { MfaMethod, SessionResponse } from '../../../shared/api';
import type { Api } from '../api';
import { t } from '../i18n';
import { ErrorAlert } from './Alert';
import { AuthenticatorSecret } from './AuthenticatorSecret';
import { Field } from './Field';
import { useSubmit } from './use-submit';

type Step =
  | { name: 'credentials' }
  | { name: 'mfa'; mfaToken: string; methods: MfaMethod[] }
  | { name: 'enroll'; mfaToken: string; secret: string; otpauthUri: string };

interface SignInProps {
  api: Api;
  onSignedIn: (session: SessionResponse) => void;
}

/** Username and password, then whichever MFA step the server asks for. */
export function SignIn({ api, onSignedIn }: SignInProps) {
  const [step, setStep] = useState<Step>({ name: 'credentials' });
  const restart = () => setStep({ name: 'credentials' });

  if (step.name === 'mfa') {
    return (
      <MfaStep
        api={api}
        mfaToken={step.mfaToken}
        methods={step.methods}
        onSignedIn={onSignedIn}
        onRestart={restart}
      />
    );
  }
  if (step.name === 'enroll') {
    return <EnrollStep api={api} step={step} onSignedIn={onSignedIn} onRestart={restart} />;
  }
  return <CredentialsStep api={api} onStep={setStep} onSignedIn={onSignedIn} />;
}

function CredentialsStep({ api, onStep, onSignedIn }: SignInProps & { onStep: (step: Step) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { submit, busy, error } = useSubmit(
    async () => {
      const result = await api.login(username.trim(), password);
      if (result.status === 'ok') onSignedIn({ token: result.token, user: result.user });
      else if (result.status === 'mfa_required')
        onStep({ name: 'mfa', mfaToken: result.mfaToken, methods: result.methods });
      else onStep({ name: 'enroll', ...result });
    },
    (caught) => {
      setPassword('');
      return caught;
    },
  );

  return (
    <form class="stack" onSubmit={submit} aria-busy={busy}>
      <h2>{t('signInTitle')}</h2>
      <Field
        label={t('usernameLabel')}
        value={username}
        onValue={setUsername}
        autocomplete="username"
        required
      />
      <Field
        label={t('passwordLabel')}
        type="password"
        value={password}
        onValue={setPassword}
        autocomplete="current-password"
        required
      />
      <ErrorAlert error={error} />
      <button type="submit" class="primary" disabled={busy || !username.trim() || !password}>
        {t('signInButton')}
      </button>
    </form>
  );
}

interface MfaStepProps extends SignInProps {
  mfaToken: string;
  methods: MfaMethod[];
  onRestart: () => void;
}

function MfaStep({ api, mfaToken, methods, onSignedIn, onRestart }: MfaStepProps) {
  const [method, setMethod] = useState<MfaMethod>(methods.includes('totp') ? 'totp' : 'backup_code');
  const [code, setCode] = useState('');
  const other: MfaMethod = method === 'totp' ? 'backup_code' : 'totp';
  const { submit, busy, error, setError } = useSubmit(
    async () => onSignedIn(await api.mfa(mfaToken, method, code.trim())),
    (caught) => {
      setCode('');
      return caught;
    },
  );

  const switchTo = (next: MfaMethod) => {
    setMethod(next);
    setCode('');
    setError(null);
  };

  return (
    <form class="stack" onSubmit={submit} aria-busy={busy}>
      <h2>{t('mfaTitle')}</h2>
      {method === 'totp' ? (
        <Field
          key="totp"
          label={t('totpLabel')}
          hint={t('totpHint')}
          value={code}
          onValue={setCode}
          autocomplete="one-time-code"
          inputMode="numeric"
          pattern="[0-9 ]*"
          maxLength={8}
          required
          autoFocus
        />
      ) : (
        <Field
          key="backup"
          label={t('backupCodeLabel')}
          hint={t('backupCodeHint')}
          value={code}
          onValue={setCode}
          autocomplete="one-time-code"
          autocapitalize="characters"
          spellcheck={false}
          class="mono"
          maxLength={16}
          required
          autoFocus
        />
      )}
      <ErrorAlert error={error} />
      <button type="submit" class="primary" disabled={busy || !code.trim()}>
        {t('verifyButton')}
      </button>
      <div class="row">
        {methods.includes(other) && (
          <button type="button" class="link" onClick={() => switchTo(other)}>
            {other === 'backup_code' ? t('useBackupCode') : t('useAuthenticator')}
          </button>
        )}
        <button type="button" class="link" onClick={onRestart}>
          {t('startOver')}
        </button>
      </div>
    </form>
  );
}

interface EnrollStepProps extends SignInProps {
  step: Extract<Step, { name: 'enroll' }>;
  onRestart: () => void;
}

/** The server asked the user to set up an authenticator now: secret, QR code, then a first code. */
function EnrollStep({ api, step, onSignedIn, onRestart }: EnrollStepProps) {
  const [code, setCode] = useState('');
  const { submit, busy, error } = useSubmit(
    async () => onSignedIn(await api.enroll(step.mfaToken, code.trim())),
    (caught) => {
      setCode('');
      return caught;
    },
  );

  return (
    <form class="stack" onSubmit={submit} aria-busy={busy}>
      <h2>{t('enrollTitle')}</h2>
      <p>{t('enrollIntro')}</p>
      <AuthenticatorSecret secret={step.secret} otpauthUri={step.otpauthUri} />
      <Field
        label={t('enrollCodeLabel')}
        value={code}
        onValue={setCode}
        autocomplete="one-time-code"
        inputMode="numeric"
        pattern="[0-9 ]*"
        maxLength={8}
        required
      />
      <ErrorAlert error={error} />
      <button type="submit" class="primary" disabled={busy || !code.trim()}>
        {t('enrollButton')}
      </button>
      <button type="button" class="link" onClick={onRestart}>
        {t('startOver')}
      </button>
    </form>
  );
}
