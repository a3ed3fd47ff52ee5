/** Enrolment at sign-in: the new authenticator secret (QR code and typed form) and its first code. */
import { html, raw } from 'hono/html';
import { csrfField, field } from './fields';
import { type Html, layout } from './layout';

export interface EnrollView {
  csrf: string;
  username: string;
  secret: string;
  /** Markup produced by the qrcode package from our own otpauth URI: the one raw() of these pages. */
  qrSvg: string;
  error?: string | null;
}

/** ABCD EFGH IJKL...: groups of four are how authenticator apps and people copy a key. */
export function groupSecret(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? secret;
}

export function enrollPage(v: EnrollView): Html {
  return layout(
    'Set up your authenticator',
    html`<h1>Set up your authenticator app</h1>
<p>Your account now needs a second step at sign-in. Add it to an authenticator app by scanning this QR code, or by typing the setup key.</p>
<div class="qr" role="img" aria-label="QR code to add your SpareKey account to an authenticator app">${raw(v.qrSvg)}</div>
<dl class="setup">
<dt>Setup key</dt><dd><code class="secret">${groupSecret(v.secret)}</code></dd>
<dt>Account</dt><dd>${v.username}</dd>
<dt>Type</dt><dd>Time-based, 6 digits</dd>
</dl>
<form method="post" action="/login/enroll">
${csrfField(v.csrf)}
${field({
  id: 'totp',
  label: 'Authenticator code',
  hint: 'Enter the 6-digit code the app now shows, to prove it is set up.',
  autocomplete: 'one-time-code',
  inputmode: 'numeric',
  error: v.error ?? null,
  autofocus: true,
  maxlength: 64,
})}
<button type="submit">Finish setup</button>
</form>
<p class="switch"><a href="/login">Cancel and sign in again</a></p>`,
  );
}
