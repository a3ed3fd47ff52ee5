import { useState } from 'preact/hooks';
import type { MfaMethod, SessionResponse } from '../../../shared/api';
import { type Api, ApiError } from '../api';
import { t } from '../i18n';
import { browserVault } from '../vault';
import { ErrorAlert } from './Alert';
import { AuthenticatorSecret } from './AuthenticatorSecret';
import { Field } from './Field';
import { KeptCodeFill } from './KeptCodeFill';
import { useSubmit } from './use-submit';

type Step =
  | { name: 'credentials' }
  | { name: 'mfa'; mfaToken: string; methods: MfaMethod[]; username: string }
  | { name: 'enroll'; mfaToken: string; secret: string; otpauthUri: string };

interface SignInProps {
  api: Api;
  onSignedIn: (session: SessionResponse) => void;
  /** The server signed in to: its kept backup codes are offered at the backup-code step. */
  serverUrl?: string;
}

/** Username and password, then whichever MFA step the server asks for. */
export function SignIn({ api, onSignedIn, serverUrl }: SignInProps) {
  const [step, setStep] = useState<Step>({ name: 'credentials' });
  const restart = () => setStep({ name: 'credentials' });

  if (step.name === 'mfa') {
    return (
      <MfaStep
        api={api}
        mfaToken={step.mfaToken}
        methods={step.methods}
        username={step.username}
        serverUrl={serverUrl}
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
        onStep({
          name: 'mfa',
          mfaToken: result.mfaToken,
          methods: result.methods,
          username: username.trim(),
        });
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
  username: string;
  onRestart: () => void;
}

function MfaStep({ api, mfaToken, methods, username, serverUrl, onSignedIn, onRestart }: MfaStepProps) {
  const [method, setMethod] = useState<MfaMethod>(methods.includes('totp') ? 'totp' : 'backup_code');
  const [code, setCode] = useState('');
  /** The kept code's number while the field holds it as filled; null once typed over or for a typed code. */
  const [filled, setFilled] = useState<number | null>(null);
  const other: MfaMethod = method === 'totp' ? 'backup_code' : 'totp';
  const { submit, busy, error, setError } = useSubmit(
    async () => {
      const session = await api.mfa(mfaToken, method, code.trim());
      // A code typed by hand: this browser's own sign-in, not one to announce as a possible intrusion.
      // A filled one was noted when it was taken.
      if (serverUrl && method === 'backup_code' && filled === null) {
        await browserVault()
          .noteOwnSignIn({ server: serverUrl, username: session.user.username, userId: session.user.id })
          .catch(() => undefined);
      }
      onSignedIn(session);
    },
    (caught) => {
      // Spent already (elsewhere, or before a sync): marked so, and the kept-code button, which follows
      // the vault, offers the next one.
      if (serverUrl && filled !== null && caught instanceof ApiError && caught.code === 'code_already_used') {
        browserVault()
          .markRefused({ server: serverUrl, username }, filled)
          .catch(() => undefined);
      }
      setCode('');
      setFilled(null);
      return caught;
    },
  );

  const switchTo = (next: MfaMethod) => {
    setMethod(next);
    setCode('');
    setFilled(null);
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
          onValue={(typed) => {
            setCode(typed);
            setFilled(null);
          }}
          autocomplete="one-time-code"
          autocapitalize="characters"
          spellcheck={false}
          class="mono"
          maxLength={16}
          required
          autoFocus
        />
      )}
      {method === 'backup_code' && serverUrl && (
        <KeptCodeFill
          serverUrl={serverUrl}
          username={username}
          onFill={(number, kept) => {
            setCode(kept);
            setFilled(number);
            setError(null);
          }}
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
