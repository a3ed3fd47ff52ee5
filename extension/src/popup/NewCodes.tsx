import { useState } from 'preact/hooks';
import { CLIPBOARD_CLEAR_MS } from '../build-constants';
import {
  clipboardText,
  downloadFileName,
  downloadText,
  type ExportedCodes,
  saveTextFile,
} from '../codes-export';
import { Notice } from '../components/Alert';
import { CodeGrid } from '../components/CodeGrid';
import { sha256Hex } from '../digest';
import { t } from '../i18n';
import { sendToBackground } from '../messages';

type Status = { tone: 'success' | 'warning'; text: string } | null;

/** The new set, shown this once: copy, download or print it, then confirm it is stored. */
export function NewCodes({ exported, onStored }: { exported: ExportedCodes; onStored: () => void }) {
  const [status, setStatus] = useState<Status>(null);

  const copy = async () => {
    const text = clipboardText(exported.codes);
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      setStatus({ tone: 'warning', text: t('copyFailed') });
      return;
    }
    try {
      // The popup closes long before the delay ends, so the background clears; it gets a digest, not the codes.
      await sendToBackground({ type: 'clipboard:clear-later', digest: await sha256Hex(text) });
      setStatus({ tone: 'success', text: t('copiedWillClear', Math.round(CLIPBOARD_CLEAR_MS / 1000)) });
    } catch {
      setStatus({ tone: 'warning', text: t('copiedNoClear') });
    }
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
      <button type="button" class="primary" onClick={onStored}>
        {t('storedButton')}
      </button>
    </section>
  );
}
