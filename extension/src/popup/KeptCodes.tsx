import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Me } from '../../../shared/api';
import { type ActiveTabFill, fillInActiveTab } from '../autofill/trigger';
import { Notice } from '../components/Alert';
import { ConfirmButton } from '../components/ConfirmButton';
import { useVaultState } from '../components/use-vault-state';
import { t } from '../i18n';
import { browserVault, type KeptSet } from '../vault';
import { IdleSetting } from './IdleSetting';
import { fillShortcut } from './shortcut';
import { UnlockForm } from './UnlockForm';

type Message = { tone: 'success' | 'warning' | 'info'; text: string } | null;

function fillMessage(result: ActiveTabFill, serverUrl: string): Message {
  if (result.filled) return { tone: 'success', text: t('autofillFilled', result.number) };
  switch (result.reason) {
    case 'not_server_tab':
    case 'off':
      return { tone: 'warning', text: t('fillNotServerTab', new URL(serverUrl).host) };
    case 'no_content_script':
      return { tone: 'warning', text: t('fillNoContentScript') };
    case 'no_field':
      return { tone: 'warning', text: t('fillNoField') };
    case 'locked':
      return { tone: 'warning', text: t('fillLocked') };
    case 'none_left':
      return { tone: 'warning', text: t('keptNoneLeft') };
    case 'rejected':
      return { tone: 'warning', text: t('autofillFailed') };
    case 'hidden':
      return { tone: 'warning', text: t('autofillHidden') };
    case 'other_user':
      return { tone: 'warning', text: t('autofillOtherUser', result.owner, result.user) };
    default:
      return { tone: 'info', text: t('fillBusy') };
  }
}

/** What a kept set cannot do any more, if anything: it is dead, or used up. */
function problemOf(kept: KeptSet): string | null {
  if (kept.stale) return t('keptStale');
  return kept.next === null ? t('keptNoneLeft') : null;
}

/** Numbers as the notice lists them: "#3, #5". */
const numbered = (numbers: number[]) => numbers.map((n) => `#${n}`).join(', ');

interface KeptSetCardProps {
  kept: KeptSet;
  serverUrl: string;
  /** Signed out, several accounts may keep a set here: the card says whose it is. */
  showOwner: boolean;
  /** The set is gone: the card goes with it, so whoever shows the cards says so. */
  onForgotten: () => void;
}

/**
 * One kept set: how many are unused, unlock and lock, fill the active tab, the idle time, and
 * forgetting it. Works without a session: the passphrase alone opens it, no server is asked.
 */
function KeptSetCard({ kept, serverUrl, showOwner, onForgotten }: KeptSetCardProps) {
  const vault = browserVault();
  const account = { server: kept.server, username: kept.username, userId: kept.userId };
  const [message, setMessage] = useState<Message>(null);
  const [shortcut, setShortcut] = useState<string | null>(null);
  const fillRef = useRef<HTMLButtonElement>(null);
  const shortcutId = useId();
  /** Set by an unlock: the fill button that appears is where the keyboard goes next. */
  const focusFill = useRef(false);

  useEffect(() => {
    fillShortcut().then(setShortcut);
  }, []);

  useEffect(() => {
    if (focusFill.current && kept.state === 'unlocked') fillRef.current?.focus();
    focusFill.current = false;
  }, [kept.state]);

  const headingId = useId();
  const forget = (
    <ConfirmButton
      question={t('forgetQuestion')}
      confirmLabel={t('forgetConfirm')}
      onConfirm={async () => {
        await vault.forget(account);
        onForgotten();
      }}
    >
      {t('forgetButton')}
    </ConfirmButton>
  );

  const body = () => {
    const problem = problemOf(kept);
    if (problem) {
      return (
        <>
          <Notice tone="warning">{problem}</Notice>
          <div class="row">{forget}</div>
        </>
      );
    }
    const next = kept.next as number;
    return (
      <>
        <p class="codes-left">{t('keptLeft', kept.remaining, kept.total)}</p>
        {kept.state === 'locked' ? (
          <>
            <p>{t('keptLocked')}</p>
            <UnlockForm
              account={account}
              onUnlocked={() => {
                focusFill.current = true;
                setMessage(null);
              }}
            />
          </>
        ) : (
          <>
            <p class="muted">{t('keptUnlocked', kept.idleMinutes)}</p>
            <button
              type="button"
              class="primary"
              ref={fillRef}
              aria-describedby={shortcut ? shortcutId : undefined}
              onClick={async () => setMessage(fillMessage(await fillInActiveTab(serverUrl), serverUrl))}
            >
              {t('autofillFill', next)}
            </button>
            {shortcut && (
              <p class="hint" id={shortcutId}>
                {t('fillShortcut', shortcut)}
              </p>
            )}
          </>
        )}
        <div class="row">
          {kept.state === 'unlocked' && (
            <button
              type="button"
              onClick={async () => {
                await vault.lock(account);
                setMessage(null);
              }}
            >
              {t('lockButton')}
            </button>
          )}
          {forget}
        </div>
        <IdleSetting initial={kept.idleMinutes} onSaved={() => undefined} />
      </>
    );
  };

  return (
    <section class="card" aria-labelledby={headingId}>
      <h2 id={headingId}>{t('keptHeading')}</h2>
      {showOwner && <p>{t('keptFor', kept.username, new URL(kept.server).host)}</p>}
      {kept.usedElsewhere.length > 0 && !kept.stale && (
        <Notice tone="warning">{t('keptUsedElsewhere', numbered(kept.usedElsewhere))}</Notice>
      )}
      {body()}
      {message && <Notice tone={message.tone}>{message.text}</Notice>}
    </section>
  );
}

/**
 * The signed-in user's kept set. `me` is the latest /api/me, already applied to the vault. Sets kept
 * here for other accounts are not this user's to see, fill or forget.
 */
export function KeptCodes({ serverUrl, me }: { serverUrl: string; me: Me }) {
  const load = useCallback(
    () => browserVault().setFor(serverUrl, { username: me.user.username, userId: me.user.id }),
    [serverUrl, me],
  );
  const kept = useVaultState(load);
  const [forgotten, setForgotten] = useState(false);
  if (!kept) return null;
  if (kept.state === 'empty' || kept.state === 'other_user') {
    return (
      <section class="card" aria-labelledby="kept-heading">
        <h2 id="kept-heading">{t('keptHeading')}</h2>
        <p class="muted">{t('keptNothing')}</p>
        {forgotten && <Notice tone="success">{t('keptForgotten')}</Notice>}
      </section>
    );
  }
  return (
    <KeptSetCard kept={kept} serverUrl={serverUrl} showOwner={false} onForgotten={() => setForgotten(true)} />
  );
}

/**
 * Signed out: the sets kept here for the configured server, each with its own card, before the
 * sign-in form. They unlock and fill without a session; that is what they are for.
 */
export function KeptCodesSignedOut({ serverUrl }: { serverUrl: string }) {
  const load = useCallback(() => browserVault().list(serverUrl), [serverUrl]);
  const sets = useVaultState(load);
  const [forgotten, setForgotten] = useState(false);
  if (!sets) return null;
  return (
    <>
      {forgotten && <Notice tone="success">{t('keptForgotten')}</Notice>}
      {sets.map((kept) => (
        <KeptSetCard
          key={`${kept.userId ?? ''}:${kept.username}`}
          kept={kept}
          serverUrl={serverUrl}
          showOwner
          onForgotten={() => setForgotten(true)}
        />
      ))}
    </>
  );
}
