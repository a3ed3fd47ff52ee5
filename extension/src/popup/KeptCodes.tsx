import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Me } from '../../../shared/api';
import { type ActiveTabFill, fillInActiveTab } from '../autofill/trigger';
import { Notice } from '../components/Alert';
import { ConfirmButton } from '../components/ConfirmButton';
import { t } from '../i18n';
import { browserVault, type VaultStatus } from '../vault';
import { originOf } from '../vault/vault';
import { IdleSetting } from './IdleSetting';
import { fillShortcut } from './shortcut';
import { UnlockForm } from './UnlockForm';

type Message = { tone: 'success' | 'warning' | 'info'; text: string } | null;
type KeptSet = Exclude<VaultStatus, { state: 'empty' }>;

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
    case 'other_user':
      return { tone: 'warning', text: t('autofillOtherUser', result.owner, result.user) };
    default:
      return { tone: 'info', text: t('fillBusy') };
  }
}

/** What a kept set cannot do for this account, if anything: it belongs elsewhere, is dead, or is used up. */
function problemOf(kept: KeptSet, serverUrl: string, me: Me): string | null {
  if (kept.server !== originOf(serverUrl) || kept.username !== me.user.username) {
    return t('keptOtherAccount', kept.username, new URL(kept.server).host);
  }
  if (kept.stale) return t('keptStale');
  return kept.next === null ? t('keptNoneLeft') : null;
}

/**
 * The codes kept in this browser for autofill: how many are unused, unlock and lock, fill the active
 * tab, the idle time, and forgetting them. `me` is the latest /api/me, already applied to the vault.
 */
export function KeptCodes({ serverUrl, me }: { serverUrl: string; me: Me }) {
  const vault = browserVault();
  const [status, setStatus] = useState<VaultStatus | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const [shortcut, setShortcut] = useState<string | null>(null);
  const fillRef = useRef<HTMLButtonElement>(null);
  /** Set by an unlock: the fill button that appears is where the keyboard goes next. */
  const focusFill = useRef(false);

  const reload = useCallback(async () => setStatus(await vault.status()), [vault]);

  useEffect(() => {
    // A fresh /api/me (a new `me`) was just applied to the vault: look again.
    if (me) reload();
  }, [reload, me]);

  useEffect(() => {
    fillShortcut().then(setShortcut);
  }, []);

  useEffect(() => {
    if (focusFill.current && status?.state === 'unlocked') fillRef.current?.focus();
    focusFill.current = false;
  }, [status]);

  if (!status) return null;

  const forget = (
    <ConfirmButton
      question={t('forgetQuestion')}
      confirmLabel={t('forgetConfirm')}
      onConfirm={async () => {
        await vault.forget();
        setMessage({ tone: 'success', text: t('keptForgotten') });
        await reload();
      }}
    >
      {t('forgetButton')}
    </ConfirmButton>
  );

  const body = () => {
    if (status.state === 'empty') return <p class="muted">{t('keptNothing')}</p>;
    const problem = problemOf(status, serverUrl, me);
    if (problem) {
      return (
        <>
          <Notice tone="warning">{problem}</Notice>
          <div class="row">{forget}</div>
        </>
      );
    }
    const next = status.next as number;
    return (
      <>
        <p class="codes-left">{t('keptLeft', status.remaining, status.total)}</p>
        {status.state === 'locked' ? (
          <>
            <p>{t('keptLocked')}</p>
            <UnlockForm
              onUnlocked={async () => {
                focusFill.current = true;
                setMessage(null);
                await reload();
              }}
            />
          </>
        ) : (
          <>
            <p class="muted">{t('keptUnlocked', status.idleMinutes)}</p>
            <button
              type="button"
              class="primary"
              ref={fillRef}
              aria-describedby={shortcut ? 'fill-shortcut' : undefined}
              onClick={async () => {
                setMessage(fillMessage(await fillInActiveTab(serverUrl), serverUrl));
                await reload();
              }}
            >
              {t('autofillFill', next)}
            </button>
            {shortcut && (
              <p class="hint" id="fill-shortcut">
                {t('fillShortcut', shortcut)}
              </p>
            )}
          </>
        )}
        <div class="row">
          {status.state === 'unlocked' && (
            <button
              type="button"
              onClick={async () => {
                await vault.lock();
                setMessage(null);
                await reload();
              }}
            >
              {t('lockButton')}
            </button>
          )}
          {forget}
        </div>
        <IdleSetting initial={status.idleMinutes} onSaved={reload} />
      </>
    );
  };

  return (
    <section class="card" aria-labelledby="kept-heading">
      <h2 id="kept-heading">{t('keptHeading')}</h2>
      {body()}
      {message && <Notice tone={message.tone}>{message.text}</Notice>}
    </section>
  );
}
