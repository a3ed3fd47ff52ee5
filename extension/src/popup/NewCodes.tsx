import { useEffect, useRef, useState } from 'preact/hooks';
import { CLIPBOARD_CLEAR_MS } from '../build-constants';
import { copySecret } from '../clipboard';
import {
  clipboardText,
  downloadFileName,
  downloadText,
  type ExportedCodes,
  saveTextFile,
} from '../codes-export';
import { Notice } from '../components/Alert';
import { CodeGrid } from '../components/CodeGrid';
import { t } from '../i18n';
import { sendToBackground } from '../messages';
import { type KeepChoice, KeepCodes, type KeepErrors, keepCodes } from './KeepCodes';

type Status = { tone: 'success' | 'warning'; text: string } | null;

/** The new set, shown this once: copy, download or print it, then confirm it is stored. */
export function NewCodes({ exported, onStored }: { exported: ExportedCodes; onStored: () => void }) {
  const [status, setStatus] = useState<Status>(null);
  const [keep, setKeep] = useState<KeepChoice>({ wanted: false, passphrase: '', repeat: '' });
  const [keepErrors, setKeepErrors] = useState<KeepErrors>({});
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    // A refused passphrase: the keyboard lands on the field that says why.
    formRef.current?.querySelector<HTMLInputElement>('input[aria-invalid="true"]')?.focus();
  }, [keepErrors]);

  /** Closes the view; when the user chose to keep the codes, only once they are sealed in the vault. */
  const stored = async (event: Event) => {
    event.preventDefault();
    if (!keep.wanted) return onStored();
    setBusy(true);
    const outcome = await keepCodes(exported, keep);
    setBusy(false);
    if (outcome.ok) return onStored();
    setKeepErrors(outcome.errors);
    if (outcome.failed) setStatus({ tone: 'warning', text: t('keepFailed') });
  };

  const copy = async () => {
    const outcome = await copySecret(clipboardText(exported.codes));
    if (outcome === 'failed') setStatus({ tone: 'warning', text: t('copyFailed') });
    else if (outcome === 'kept') setStatus({ tone: 'warning', text: t('copiedNoClear') });
    else setStatus({ tone: 'success', text: t('copiedWillClear', Math.round(CLIPBOARD_CLEAR_MS / 1000)) });
  };

  const download = () => {
    saveTextFile(downloadFileName(exported), downloadText(exported));
    setStatus({ tone: 'success', text: t('downloaded') });
  };

  const print = async () => {
    try {
      await sendToBackground({ type: 'print:open', sheet: exported });
    } catch {
      setStatus({ tone: 'warning', text: t('printFailed') });
    }
  };

  return (
    <section class="stack" aria-labelledby="new-codes-heading">
      <h2 id="new-codes-heading">{t('newCodesTitle')}</h2>
      <p>{t('newCodesIntro')}</p>
      <CodeGrid codes={exported.codes} />
      <div class="row">
        <button type="button" onClick={copy}>
          {t('copyButton')}
        </button>
        <button type="button" onClick={download}>
          {t('downloadButton')}
        </button>
        <button type="button" onClick={print}>
          {t('printButton')}
        </button>
      </div>
      {status && <Notice tone={status.tone}>{status.text}</Notice>}
      <form class="stack" ref={formRef} onSubmit={stored} aria-busy={busy} noValidate>
        <KeepCodes
          choice={keep}
          errors={keepErrors}
          onChange={(change) => {
            setKeep((current) => ({ ...current, ...change }));
            setKeepErrors({});
          }}
        />
        <button type="submit" class="primary" disabled={busy}>
          {t('storedButton')}
        </button>
      </form>
    </section>
  );
}
