import { useCallback, useEffect, useState } from 'preact/hooks';
import type { AdminUser, AuditEvent, AuditEventType, AuditExportFormat } from '../../../shared/api';
import { ErrorAlert } from '../components/Alert';
import type { Session } from '../components/SessionGate';
import { isSessionExpired } from '../errors';
import { formatDateTime, type MessageKey, t } from '../i18n';
import { AdminTable } from './AdminTable';

const LIMIT = 200;

/** A label for every event type: the Record makes a type added to the API a compile error here. */
export const EVENT_LABELS: Record<AuditEventType, MessageKey> = {
  login_succeeded: 'eventLoginSucceeded',
  login_failed: 'eventLoginFailed',
  mfa_succeeded: 'eventMfaSucceeded',
  mfa_failed: 'eventMfaFailed',
  mfa_locked: 'eventMfaLocked',
  password_locked: 'eventPasswordLocked',
  user_unlocked: 'eventUserUnlocked',
  mfa_enrolled: 'eventMfaEnrolled',
  backup_code_used: 'eventBackupCodeUsed',
  backup_code_failed: 'eventBackupCodeFailed',
  backup_codes_generated: 'eventBackupCodesGenerated',
  backup_codes_revoked: 'eventBackupCodesRevoked',
  logout: 'eventLogout',
  policy_changed: 'eventPolicyChanged',
  user_created: 'eventUserCreated',
  user_updated: 'eventUserUpdated',
  user_deleted: 'eventUserDeleted',
  mfa_configured: 'eventMfaConfigured',
  mfa_reset: 'eventMfaReset',
  password_changed: 'eventPasswordChanged',
  password_reset: 'eventPasswordReset',
  application_created: 'eventApplicationCreated',
  application_updated: 'eventApplicationUpdated',
  application_secret_rotated: 'eventApplicationSecretRotated',
  application_deleted: 'eventApplicationDeleted',
  application_sign_in: 'eventApplicationSignIn',
};

const TYPES = Object.keys(EVENT_LABELS) as AuditEventType[];

/** The day `days` before today, as an <input type="date"> value. */
function dayInput(daysAgo: number): string {
  return new Date(Date.now() - daysAgo * 24 * 60 * 60_000).toISOString().slice(0, 10);
}

/** Saves a downloaded file through a temporary link: the page never navigates. */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A date range of the audit log as a JSON Lines or CSV file, however old (the server reads its rotated files). */
function AuditExport({ session }: { session: Session }) {
  const [from, setFrom] = useState(dayInput(30));
  const [to, setTo] = useState(dayInput(0));
  const [format, setFormat] = useState<AuditExportFormat>('csv');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const download = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      // The end day is included: the range runs to the start of the next day (UTC).
      const end = new Date(Date.parse(`${to}T00:00:00Z`) + 24 * 60 * 60_000).toISOString();
      const blob = await session.api.exportAudit({ from: `${from}T00:00:00.000Z`, to: end, format });
      save(blob, `sparekey-audit-${from}-${to}.${format}`);
    } catch (caught) {
      if (isSessionExpired(caught)) session.expire();
      else setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="row" onSubmit={download} aria-label={t('auditExport')}>
      <div class="field">
        <label for="audit-from">{t('auditExportFrom')}</label>
        <input
          id="audit-from"
          type="date"
          required
          value={from}
          onInput={(e) => setFrom(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="audit-to">{t('auditExportTo')}</label>
        <input id="audit-to" type="date" required value={to} onInput={(e) => setTo(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="audit-format">{t('auditExportFormat')}</label>
        <select
          id="audit-format"
          value={format}
          onChange={(e) => setFormat(e.currentTarget.value as AuditExportFormat)}
        >
          <option value="csv">CSV</option>
          <option value="jsonl">JSON Lines</option>
        </select>
      </div>
      <button type="submit" disabled={busy}>
        {t('auditExportDownload')}
      </button>
      <ErrorAlert error={error} />
    </form>
  );
}

function detailsText(event: AuditEvent): string {
  return Object.entries(event.details ?? {})
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(', ');
}

/** Who made the change: a user, the server host (break-glass `npm run admin`), or nobody signed in. */
function actorText(event: AuditEvent): string {
  if (event.details?.via === 'host') return t('auditActorHost');
  return event.actor?.username ?? '—';
}

/**
 * The latest events, newest first, narrowed by user and event type. The server filters, so older
 * events of one user are found even when the whole log is busy.
 */
export function AuditLog({
  session,
  users,
  revision,
}: {
  session: Session;
  users: AdminUser[];
  revision: number;
}) {
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [userId, setUserId] = useState('');
  const [type, setType] = useState<AuditEventType | ''>('');

  const load = useCallback(async () => {
    setError(null);
    try {
      const { events: loaded } = await session.api.audit({ limit: LIMIT, userId, type: type || undefined });
      setEvents(loaded);
    } catch (caught) {
      if (isSessionExpired(caught)) session.expire(caught);
      else setError(caught);
    }
  }, [session, userId, type]);

  // `revision` is the signal to reload after a change made elsewhere on the page.
  useEffect(() => {
    load();
  }, [load, revision]);

  const shown = events ?? [];

  return (
    <section class="card" aria-labelledby="audit-heading">
      <div class="row spread">
        <h2 id="audit-heading">{t('auditHeading')}</h2>
        <button type="button" onClick={load}>
          {t('refresh')}
        </button>
      </div>
      <div class="row">
        <div class="field">
          <label for="audit-user">{t('auditFilterUser')}</label>
          <select id="audit-user" value={userId} onChange={(event) => setUserId(event.currentTarget.value)}>
            <option value="">{t('allUsers')}</option>
            {users.map((user) => (
              <option key={user.id} value={user.id}>
                {user.username}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="audit-type">{t('auditFilterType')}</label>
          <select
            id="audit-type"
            value={type}
            onChange={(event) => setType(event.currentTarget.value as AuditEventType | '')}
          >
            <option value="">{t('allEvents')}</option>
            {TYPES.map((value) => (
              <option key={value} value={value}>
                {t(EVENT_LABELS[value])}
              </option>
            ))}
          </select>
        </div>
      </div>
      <AuditExport session={session} />
      <ErrorAlert error={error} />
      {events !== null &&
        (shown.length === 0 ? (
          <p class="muted">{t('noEvents')}</p>
        ) : (
          <AdminTable
            caption={t('auditHeading')}
            columns={[
              t('colWhen'),
              t('colEvent'),
              t('colActor'),
              t('colSubject'),
              t('colFrom'),
              t('colDetails'),
            ]}
          >
            {shown.map((event) => (
              <tr key={event.id}>
                <td>
                  <time dateTime={event.at}>{formatDateTime(event.at)}</time>
                </td>
                <td>{EVENT_LABELS[event.type] ? t(EVENT_LABELS[event.type]) : event.type}</td>
                <td>{actorText(event)}</td>
                <td>{event.subject?.username ?? '—'}</td>
                <td>
                  {event.ip ?? '—'}
                  {event.userAgent && <span class="hint">{event.userAgent}</span>}
                </td>
                <td>{detailsText(event)}</td>
              </tr>
            ))}
          </AdminTable>
        ))}
    </section>
  );
}
