import { t } from '../i18n';

/** The codes, numbered, in a monospace grid: each one easy to find, read aloud and cross off. */
export function CodeGrid({ codes }: { codes: { number: number; code: string }[] }) {
  return (
    <ol class="code-grid" aria-label={t('codeGridLabel')}>
      {codes.map(({ number, code }) => (
        <li key={number} value={number}>
          <span class="code-number" aria-hidden="true">
            {number}.
          </span>
          <code>{code}</code>
        </li>
      ))}
    </ol>
  );
}
