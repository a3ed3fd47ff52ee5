import { html } from 'hono/html';
import { csrfField, FORM_ERROR_ID, field, formError } from './fields';
import { type Html, layout } from './layout';

export interface PasswordView {
  csrf: string;
  username: string;
  /** The password was reset or generated: nothing else is possible until it is changed. */
  forced: boolean;
  /** Form-wide: too many attempts. */
  error?: string | null;
  fieldErrors?: { current?: string | null; next?: string | null; confirm?: string | null };
}

/** The rule, as people choosing a password need to hear it (server/services/password-rules.ts). */
const RULE_HINT =
  'At least 8 characters. Any characters; a long phrase is good. Not a commonly used password.';

export function passwordPage(v: PasswordView): Html {
  const errors = v.fieldErrors ?? {};
  const formWide = v.error ? [FORM_ERROR_ID] : [];
  const focus =
    errors.current || !(errors.next || errors.confirm) ? 'current' : errors.next ? 'next' : 'confirm';
  return layout(
    'Change password',
    html`<h1>Change password</h1>
<p class="who">Signed in as ${v.username}</p>
${v.forced ? html`<p class="warning" role="status">Your password was set by an administrator or generated: choose your own to continue.</p>` : ''}
${formError(v.error ?? null)}
<form method="post" action="/account/password">
${csrfField(v.csrf)}
<input type="text" name="username" value="${v.username}" autocomplete="username" hidden>
${field({
  id: 'current_password',
  label: 'Current password',
  type: 'password',
  autocomplete: 'current-password',
  error: errors.current ?? null,
  describedBy: formWide,
  autofocus: focus === 'current',
})}
${field({
  id: 'new_password',
  label: 'New password',
  type: 'password',
  autocomplete: 'new-password',
  hint: RULE_HINT,
  error: errors.next ?? null,
  autofocus: focus === 'next',
})}
${field({
  id: 'confirm_password',
  label: 'New password again',
  type: 'password',
  autocomplete: 'new-password',
  error: errors.confirm ?? null,
  autofocus: focus === 'confirm',
})}
<button type="submit">Change password</button>
</form>
${v.forced ? '' : html`<p><a href="/account">Back to your account</a></p>`}
<form method="post" action="/logout">
${csrfField(v.csrf)}
<button type="submit" class="secondary">Sign out</button>
</form>`,
  );
}
