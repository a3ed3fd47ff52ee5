import { html } from 'hono/html';
import type { BackupCodeStatus } from '../../../shared/api';
import { csrfField, notice } from './fields';
import { type Html, layout } from './layout';

export interface AccountView {
  csrf: string;
  username: string;
  backupCodes: BackupCodeStatus;
  notice?: string | null;
}

const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'UTC' });

function backupCodes(s: BackupCodeStatus): Html {
  const plural = (n: number) => (n === 1 ? 'code' : 'codes');
  const count =
    s.total > 0
      ? html`<p class="count">${s.remaining} of ${s.total} backup ${plural(s.total)} left</p>
${s.generatedAt ? html`<p class="hint">Generated on ${dateFormat.format(new Date(s.generatedAt))} (UTC).</p>` : ''}`
      : html`<p class="count">No backup codes generated yet.</p>`;
  const advice = s.reason
    ? html`<p class="notice">${s.reason.message}</p>`
    : s.warn
      ? html`<p class="warning">Few backup codes are left: generate a new set in the SpareKey extension.</p>`
      : s.total === 0
        ? html`<p class="hint">Generate a set in the SpareKey extension and keep it somewhere safe.</p>`
        : '';
  return html`<section aria-labelledby="codes-heading">
<h2 id="codes-heading">Backup codes</h2>
${count}
${advice}
</section>`;
}

export function accountPage(v: AccountView): Html {
  return layout(
    'Your account',
    html`<h1>Your account</h1>
<p class="who">Signed in as ${v.username}</p>
${notice(v.notice ?? null)}
${backupCodes(v.backupCodes)}
<p><a href="/account/password">Change password</a></p>
<form method="post" action="/logout">
${csrfField(v.csrf)}
<button type="submit" class="secondary">Sign out</button>
</form>`,
  );
}
