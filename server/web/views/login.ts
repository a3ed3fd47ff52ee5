import { html } from 'hono/html';
import { csrfField, FORM_ERROR_ID, field, formError, notice } from './fields';
import { type Html, layout } from './layout';

export interface LoginView {
  csrf: string;
  username?: string;
  /** Form-wide: wrong credentials, too many attempts. */
  error?: string | null;
  fieldErrors?: { username?: string | null; password?: string | null };
  notice?: string | null;
}

export function loginPage(v: LoginView): Html {
  const usernameError = v.fieldErrors?.username ?? null;
  const passwordError = v.fieldErrors?.password ?? null;
  const formWide = v.error ? [FORM_ERROR_ID] : [];
  // Focus where typing resumes: the name if it is missing or wrong, otherwise the password.
  const focusUsername = !v.username || Boolean(usernameError);
  return layout(
    'Sign in',
    html`<h1>Sign in</h1>
${notice(v.notice ?? null)}
${formError(v.error ?? null)}
<form method="post" action="/login">
${csrfField(v.csrf)}
${field({
  id: 'username',
  label: 'Username',
  autocomplete: 'username',
  value: v.username ?? '',
  error: usernameError,
  describedBy: formWide,
  invalid: Boolean(v.error),
  autofocus: focusUsername,
  maxlength: 64,
  autocapitalize: 'none',
})}
${field({
  id: 'password',
  label: 'Password',
  type: 'password',
  autocomplete: 'current-password',
  error: passwordError,
  describedBy: formWide,
  invalid: Boolean(v.error),
  autofocus: !focusUsername,
})}
<button type="submit">Sign in</button>
</form>`,
  );
}
