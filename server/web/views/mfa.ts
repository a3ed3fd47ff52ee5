/** The MFA step: the authenticator-code form, or the backup-code form the user switched to. */
import { html, raw } from 'hono/html';
import type { MfaMethod } from '../../../shared/api';
import { BACKUP_FORM_ATTRIBUTE, BACKUP_FORM_VALUE, MFA_STEP_PATH } from '../../../shared/mfa-step';
import { csrfField, field } from './fields';
import { type Html, layout } from './layout';

export const BACKUP_CODE_PATH = `${MFA_STEP_PATH}?method=backup_code`;

export interface MfaView {
  csrf: string;
  method: MfaMethod;
  /** The challenge's user: shown, and on the form for the extension, which keeps codes per user. */
  username: string;
  /** The challenge's user id, on the backup-code form: the extension keeps codes per server and user id. */
  userId: string;
  /** Whether to offer the backup-code form: the policy allows codes and one is left. */
  backupAllowed: boolean;
  error?: string | null;
}

/**
 * Who is signing in, for the person at the screen. The forms also carry it as data-username: the
 * extension fills only codes kept for that user, since another user's code would count toward a lockout.
 */
function signingInAs(v: MfaView): Html {
  return html`<p class="who">Signing in as ${v.username}</p>`;
}

function totpForm(v: MfaView): Html {
  return html`<h1>Two-step verification</h1>
${signingInAs(v)}
<p>Open your authenticator app and enter the code it shows for SpareKey.</p>
<form method="post" action="/login/mfa" data-username="${v.username}">
${csrfField(v.csrf)}
${field({
  id: 'totp',
  label: 'Authenticator code',
  hint: 'The 6-digit code from your app.',
  autocomplete: 'one-time-code',
  inputmode: 'numeric',
  error: v.error ?? null,
  autofocus: true,
  maxlength: 64,
})}
<button type="submit">Verify</button>
</form>
${v.backupAllowed ? html`<p class="switch"><a href="${BACKUP_CODE_PATH}">Use a backup code</a></p>` : ''}`;
}

/** The extension fills a kept code only inside this form, marked so (shared/mfa-step.ts); constants, no input. */
const BACKUP_FORM_MARK = raw(`${BACKUP_FORM_ATTRIBUTE}="${BACKUP_FORM_VALUE}"`);

function backupForm(v: MfaView): Html {
  return html`<h1>Use a backup code</h1>
${signingInAs(v)}
<p>Enter one of the backup codes you saved. Each code works once.</p>
<form method="post" action="/login/mfa" data-username="${v.username}" ${BACKUP_FORM_MARK} data-user-id="${v.userId}">
${csrfField(v.csrf)}
${field({
  id: 'backup_code',
  label: 'Backup code',
  hint: '10 characters, like 7K3QX-M2D9P. Dashes, spaces and case do not matter.',
  autocomplete: 'one-time-code',
  autocapitalize: 'characters',
  error: v.error ?? null,
  autofocus: true,
  maxlength: 64,
})}
<button type="submit">Verify</button>
</form>
<p class="switch"><a href="/login/mfa">Use your authenticator app</a></p>`;
}

export function mfaPage(v: MfaView): Html {
  const body = v.method === 'backup_code' ? backupForm(v) : totpForm(v);
  return layout(
    v.method === 'backup_code' ? 'Backup code' : 'Two-step verification',
    html`${body}
<p class="switch"><a href="/login">Sign in as someone else</a></p>`,
  );
}
