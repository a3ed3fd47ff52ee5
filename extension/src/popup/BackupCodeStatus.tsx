import type { BackupCodeStatus as Status } from '../../../shared/api';
import { Notice } from '../components/Alert';
import { formatDateTime, t } from '../i18n';

/** "7 of 10 codes left", when the set was made, which numbers are spent, and a warning when few remain. */
export function BackupCodeStatus({ status }: { status: Status }) {
  if (status.total === 0) return <p>{t('noCodesYet')}</p>;
  return (
    <div class="stack-tight">
      <p class="codes-left">{t('codesLeft', status.remaining, status.total)}</p>
      {status.generatedAt && <p class="muted">{t('generatedAt', formatDateTime(status.generatedAt))}</p>}
      <p class="muted">
        {status.used.length > 0
          ? t('usedNumbers', [...status.used].sort((a, b) => a - b).join(', '))
          : t('noneUsed')}
      </p>
      {status.warn && (
        <Notice tone="warning">
          {status.remaining === 0 ? t('warnNoneLeft') : t('warnFewLeft', status.remaining)}
        </Notice>
      )}
    </div>
  );
}
