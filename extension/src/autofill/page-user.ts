/**
 * Who the page says is signing in: the data-username that the server's MFA forms carry
 * (server/web/views/mfa.ts). Pure DOM, like detect.ts.
 */
import { type CodeField, fieldInputs } from './detect';

/** The nearest data-username around the field (its form, on our server), or undefined when none says. */
export function signingInUser(field: CodeField): string | undefined {
  const claimed = fieldInputs(field)[0]?.closest('[data-username]')?.getAttribute('data-username')?.trim();
  return claimed || undefined;
}
