import { useEffect, useState } from 'preact/hooks';
import type { AuditEvent } from '../../../shared/api';
import { codeUsesAfter, describeCodeUse, dismissedAt, markDismissed } from '../code-use-events';
import type { Session } from '../components/SessionGate';
import { t } from '../i18n';
import { browserVault } from '../vault';
import { isOwnUse } from '../vault/own-uses';
import { originOf } from '../vault/vault';

/** Recent sign-ins with one of the user's backup codes, until the user says they were theirs. */
export function CodeUseNotice({ session }: { session: Session }) {
  const [uses, setUses] = useState<AuditEvent[]>([]);

  useEffect(() => {
    let live = true;
    Promise.all([session.api.myEvents(), dismissedAt(), browserVault().ownUses()])
      .then(([{ events }, dismissed, own]) => {
        // This browser's own sign-ins (a filled code, or one typed in the popup) are no intrusion.
        const server = originOf(session.serverUrl) ?? '';
        if (live) setUses(codeUsesAfter(events, dismissed).filter((event) => !isOwnUse(event, own, server)));
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
      <ul class="plain">
        {uses.map((event) => (
          <li key={event.id}>{describeCodeUse(event)}</li>
        ))}
      </ul>
      <p>{t('codeUseAdvice')}</p>
      <button
        type="button"
        onClick={async () => {
          await markDismissed(latest.at);
          setUses([]);
        }}
      >
        {t('codeUseDismiss')}
      </button>
    </section>
  );
}
