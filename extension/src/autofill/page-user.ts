/**
 * Who the page says is signing in: the data-username and data-user-id that the server's MFA forms
 * carry (server/web/views/mfa.ts). Pure DOM, like detect.ts.
 */
import type { SigningIn } from '../vault/vault';
import { type CodeField, fieldInputs } from './detect';

/** The nearest `attribute` around the field (its form, on our server), or undefined when none says. */
function claimed(field: CodeField, attribute: string): string | undefined {
  const value = fieldInputs(field)[0]?.closest(`[${attribute}]`)?.getAttribute(attribute)?.trim();
  return value || undefined;
}

/** The nearest data-username around the field, or undefined when none says. */
export function signingInUser(field: CodeField): string | undefined {
  return claimed(field, 'data-username');
}

/** Who signs in, as far as the page says: the name, and the server's user id when the page gives it. */
export function signingIn(field: CodeField): SigningIn {
  const username = signingInUser(field);
  const userId = claimed(field, 'data-user-id');
  return { ...(username === undefined ? {} : { username }), ...(userId === undefined ? {} : { userId }) };
}
