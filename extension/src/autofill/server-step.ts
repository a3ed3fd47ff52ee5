/**
 * Where a kept code may go: the server's own MFA step (the configured server URL's path, then
 * /login/mfa), in the backup-code form the server renders. Any other page of the same origin (a wiki,
 * an upload) may carry a look-alike form; it must never see the button or get a code. Pure DOM and URLs.
 */
import { BACKUP_FORM_ATTRIBUTE, BACKUP_FORM_VALUE, MFA_STEP_PATH } from '../../../shared/mfa-step';

/** The MFA step under the configured server URL, which parseServerUrl keeps without a trailing slash. */
export function mfaStepUrl(serverUrl: string): URL {
  const server = new URL(serverUrl);
  return new URL(`${server.origin}${server.pathname.replace(/\/+$/, '')}${MFA_STEP_PATH}`);
}

/** True only on the MFA step: the same scheme, host and port, the exact path; the query may vary. */
export function isMfaStep(pageUrl: string | undefined, serverUrl: string | null): boolean {
  if (!pageUrl || !serverUrl) return false;
  try {
    const page = new URL(pageUrl);
    const step = mfaStepUrl(serverUrl);
    return page.origin === step.origin && page.pathname === step.pathname;
  } catch {
    return false;
  }
}

/**
 * Match patterns for the MFA step's pages, with and without a query. `withPort`: Chromium's patterns
 * carry the port (without one they match every port); Firefox's cannot (bug 1362809), so there the
 * content script and the background check the exact origin and path themselves.
 */
export function mfaStepMatches(serverUrl: string, withPort: boolean): string[] {
  const step = mfaStepUrl(serverUrl);
  const port = step.port || (step.protocol === 'https:' ? '443' : '80');
  const base = `${step.protocol}//${step.hostname}${withPort ? `:${port}` : ''}${step.pathname}`;
  return [base, `${base}?*`];
}

/** The backup-code form the server renders: the one form with its mark, or null (none, or a second one). */
export function serverBackupForm(doc: Document): HTMLFormElement | null {
  const forms = doc.querySelectorAll<HTMLFormElement>(
    `form[${BACKUP_FORM_ATTRIBUTE}="${BACKUP_FORM_VALUE}"]`,
  );
  return forms.length === 1 ? (forms[0] ?? null) : null;
}
