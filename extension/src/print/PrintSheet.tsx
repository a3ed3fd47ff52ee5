import { useEffect, useState } from 'preact/hooks';
import { CodeGrid } from '../components/CodeGrid';
import { formatDateTime, t } from '../i18n';
import { type PrintSheet as Sheet, sendToBackground } from '../messages';

/**
 * A print-friendly page for the new set. The codes come from the background once, in memory, and
 * are gone on reload: they are never written anywhere or put in this page's URL.
 */
export function PrintSheet() {
  const [sheet, setSheet] = useState<Sheet | null | undefined>(undefined);

  useEffect(() => {
    sendToBackground({ type: 'print:take' })
      .then((taken) => setSheet((taken as Sheet | null) ?? null))
      .catch(() => setSheet(null));
  }, []);

  useEffect(() => {
    if (sheet) window.print();
  }, [sheet]);

  if (sheet === undefined) return null;
  if (sheet === null) {
    return (
      <main class="print-sheet">
        <p>{t('printGone')}</p>
      </main>
    );
  }
  return (
    <main class="print-sheet">
      <h1>{t('printHeading')}</h1>
      <p>{t('printFor', sheet.username, new URL(sheet.serverUrl).host)}</p>
      <p>{t('generatedAt', formatDateTime(sheet.generatedAt))}</p>
      <CodeGrid codes={sheet.codes} />
      <p>{t('fileHowTo')}</p>
      <div class="row no-print">
        <button type="button" onClick={() => window.print()}>
          {t('printButton')}
        </button>
        <button type="button" onClick={() => window.close()}>
          {t('close')}
        </button>
      </div>
    </main>
  );
}
