import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import type { SessionResponse, User } from '../../../shared/api';
import { type Api, createApi } from '../api';
import { describeError } from '../errors';
import { t } from '../i18n';
import { hasHostPermission, savedServerUrl } from '../server-url';
import { forgetToken, readToken, storeToken } from '../session-token';
import { Notice } from './Alert';
import { ServerSetup } from './ServerSetup';
import { SignIn } from './SignIn';

export interface Session {
  api: Api;
  serverUrl: string;
  /** Set right after an interactive sign-in; null when the session was resumed. */
  signedInAs: User | null;
  /** Codes left when this sign-in spent a backup code. */
  backupCodesLeft: number | null;
  signOut: () => Promise<void>;
  /** The server no longer accepts the token: back to sign-in, with a word why (from `cause`, the refusal). */
  expire: (cause?: unknown) => void;
  /** The server replaced the session (a password change ends every session and issues a new one). */
  renew: (token: string) => Promise<void>;
}

type Phase =
  | { name: 'loading' }
  | { name: 'setup'; initialUrl: string }
  /** `expired`: why the last session ended, shown above the form; null after a plain sign-out. */
  | { name: 'signin'; serverUrl: string; expired: string | null }
  | { name: 'ready'; serverUrl: string; token: string; signedIn: SessionResponse | null };

async function initialPhase(): Promise<Phase> {
  const saved = await savedServerUrl();
  if (!saved || !(await hasHostPermission(saved))) return { name: 'setup', initialUrl: saved ?? '' };
  const token = await readToken();
  return token
    ? { name: 'ready', serverUrl: saved, token, signedIn: null }
    : { name: 'signin', serverUrl: saved, expired: null };
}

interface SessionGateProps {
  children: (session: Session) => ComponentChildren;
  /** Shown above the sign-in form (the popup's kept codes, which need no session). */
  signedOut?: (serverUrl: string) => ComponentChildren;
}

/** Server set-up and sign-in, shared by the popup and the options page; renders `children` once signed in. */
export function SessionGate({ children, signedOut }: SessionGateProps) {
  const [phase, setPhase] = useState<Phase>({ name: 'loading' });

  useEffect(() => {
    initialPhase().then(setPhase);
  }, []);

  const changeServer = useCallback(async () => {
    await forgetToken();
    setPhase({ name: 'setup', initialUrl: (await savedServerUrl()) ?? '' });
  }, []);

  const session = useMemo<Session | null>(() => {
    if (phase.name !== 'ready') return null;
    const { serverUrl, token, signedIn } = phase;
    const api = createApi(serverUrl, token);
    return {
      api,
      serverUrl,
      signedInAs: signedIn?.user ?? null,
      backupCodesLeft: signedIn?.backupCodes?.remaining ?? null,
      signOut: async () => {
        // Forget the token even if the server cannot be told: a stale token in memory helps no one.
        await api.logout().catch(() => undefined);
        await forgetToken();
        setPhase({ name: 'signin', serverUrl, expired: null });
      },
      expire: (cause) => {
        // "MFA is now required" says more than "your session has ended": show the server's reason.
        const why = cause === undefined ? t('errorSessionExpired') : describeError(cause);
        forgetToken().then(() => setPhase({ name: 'signin', serverUrl, expired: why }));
      },
      renew: async (renewed) => {
        await storeToken(renewed);
        setPhase({ name: 'ready', serverUrl, token: renewed, signedIn: null });
      },
    };
  }, [phase]);

  switch (phase.name) {
    case 'loading':
      return <p class="muted">{t('loading')}</p>;
    case 'setup':
      return (
        <ServerSetup
          initialUrl={phase.initialUrl}
          onReady={(serverUrl) => setPhase({ name: 'signin', serverUrl, expired: null })}
        />
      );
    case 'signin': {
      const { serverUrl } = phase;
      return (
        <div class="stack">
          {phase.expired && <Notice tone="warning">{phase.expired}</Notice>}
          {signedOut?.(serverUrl)}
          <SignIn
            api={createApi(serverUrl)}
            serverUrl={serverUrl}
            onSignedIn={async (signedIn) => {
              await storeToken(signedIn.token);
              setPhase({ name: 'ready', serverUrl, token: signedIn.token, signedIn });
            }}
          />
          <p class="muted small">
            {t('serverLabel', new URL(serverUrl).host)}{' '}
            <button type="button" class="link" onClick={changeServer}>
              {t('changeServer')}
            </button>
          </p>
        </div>
      );
    }
    default:
      return session ? children(session) : null;
  }
}
