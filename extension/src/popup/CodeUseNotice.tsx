import { useEffect, useState } from 'preact/hooks';
import type { AuditEvent } from '../../../shared/api';
import {
  codeUsesAfter,
  describeCodeUse,
  dismissedAt,
  markDismissed,
  ofEarlierSet,
  summarizeCodeUse,
} from '../code-use-events';
import type { Session } from '../components/SessionGate';
import { t } from '../i18n';
import { browserVault } from '../vault';
import { isOwnUse } from '../vault/own-uses';
import { originOf } from '../vault/vault';

interface CodeUse {
  event: AuditEvent;
  earlierSet: boolean;
}

/**
 * Recent sign-ins with one of the user's backup codes, until the user says they were theirs. One short
 * line per use keeps the popup within the browser's 800×600; the rest is behind "Details".
 */
export function CodeUseNotice({ session }: { session: Session }) {
  const [uses, setUses] = useState<CodeUse[]>([]);

  useEffect(() => {
    let live = true;
    Promise.all([session.api.myEvents(), dismissedAt(), browserVault().ownUses()])
      .then(([{ events }, dismissed, own]) => {
        // This browser's own sign-ins (a filled code, or one typed in the popup) are no intrusion.
        const server = originOf(session.serverUrl) ?? '';
        const fresh = codeUsesAfter(events, dismissed).filter((event) => !isOwnUse(event, own, server));
        if (live) setUses(fresh.map((event) => ({ event, earlierSet: ofEarlierSet(event, events) })));
      })
      // The notice is an extra: if events cannot be read now, the background poll retries later.
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [session]);

  const latest = uses[0];
  if (!latest) return null;
  return (
    <section class="alert alert-warning stack-tight" aria-labelledby="code-use-heading">
      <h2 id="code-use-heading">{t('codeUseTitle')}</h2>
      <ul class="code-uses">
        {uses.map(({ event, earlierSet }) => (
          <li key={event.id}>{summarizeCodeUse(event, earlierSet)}</li>
        ))}
      </ul>
      <details class="code-use-details">
        <summary>{t('codeUseDetails')}</summary>
        <ul class="plain">
          {uses.map(({ event }) => (
            <li key={event.id}>{describeCodeUse(event)}</li>
          ))}
        </ul>
      </details>
      <p>{t('codeUseAdvice')}</p>
      <button
        type="button"
        class="align-start"
        onClick={async () => {
          await markDismissed(latest.event.at);
          setUses([]);
        }}
      >
        {t('codeUseDismiss')}
      </button>
    </section>
  );
}
