/**
 * The provider's pages, in SpareKey's page shell (no script; the CSP forbids it anyway, but for
 * oidc-provider's self-posting form_post answer to an application, allowed by its hash: ./routes.ts).
 */
import { html, raw } from 'hono/html';
import { STYLESHEET_PATH } from '../web/static';
import { layout } from '../web/views/layout';
import { messagePage } from '../web/views/message';

/**
 * The provider's pages get the web pages' policy (server/app.ts): no script, our styles only. A form
 * may post only here — and the browser applies that to the form's whole redirect chain, so a page
 * whose form ends at another site (logout, back to the application) names that site: `formTargets`.
 * `scriptHashes`: the base64 SHA-256 of each inline script allowed, none by default.
 */
export function contentSecurityPolicy(formTargets: string[] = [], scriptHashes: string[] = []): string {
  const formAction = ["'self'", ...formTargets].join(' ');
  const scripts =
    scriptHashes.length > 0 ? `; script-src ${scriptHashes.map((h) => `'sha256-${h}'`).join(' ')}` : '';
  return `default-src 'none'; style-src 'self'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'${scripts}`;
}

/** A refused authorization request: shown here, never sent to an unverified redirect URI. */
export function errorPage(error: string, description: string | undefined) {
  return messagePage(
    'This sign-in request was refused',
    `${description ?? 'The application sent a request SpareKey cannot accept.'} (${error})`,
    { href: '/', label: 'Go to SpareKey' },
  );
}

/**
 * The step between the application's redirect and SpareKey's sign-in. The redirect came from another
 * site, so the browser left out SpareKey's SameSite=Strict cookies; this page's own navigation is
 * same-site, so the next request carries them (and the session, if there is one, is seen).
 */
export function continuePage(applicationName: string, next: string) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0;url=${next}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signing in to ${applicationName} · SpareKey</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="icon" href="data:,">
</head>
<body>
<header class="brand"><span class="logo" aria-hidden="true"></span>SpareKey</header>
<main class="card">
<h1>Signing in to ${applicationName}</h1>
<p class="switch"><a href="${next}">Continue</a></p>
</main>
</body>
</html>
`;
}

/** RP-initiated logout: one button, so another site cannot sign a user out without a click here. */
export function logoutPage(providerForm: string) {
  return layout(
    'Sign out',
    html`<h1>Sign out of SpareKey?</h1>
<p>The application asked to sign you out. This ends your SpareKey session in this browser.</p>
${raw(providerForm)}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`,
  );
}

/**
 * The confirmation form of a logout when this browser has no provider session: oidc-provider's form
 * token, posted with logout=yes by the page's button (./routes.ts, confirmAnonymousLogout).
 */
export function logoutForm(action: string, xsrf: string) {
  return html`<form id="op.logoutForm" method="post" action="${action}"><input type="hidden" name="xsrf" value="${xsrf}"/></form>`;
}

/** An authorization or logout request posted as a form: the provider takes them by GET only (./routes.ts). */
export function getOnlyPage() {
  return messagePage(
    'This request was refused',
    'SpareKey takes sign-in and sign-out requests from an application as a link or a redirect (GET), not as a form post. The application must be set to send them by GET.',
    { href: '/', label: 'Go to SpareKey' },
  );
}

/** Any provider page while the store is out of reach (503, Retry-After). */
export function unavailablePage() {
  return messagePage(
    'Please try again in a moment',
    'The server cannot reach its database. Try again in a few seconds.',
    { href: '/', label: 'Go to SpareKey' },
  );
}

export function loggedOutPage() {
  return messagePage('Signed out', 'You have signed out of SpareKey.', {
    href: '/login',
    label: 'Sign in again',
  });
}
