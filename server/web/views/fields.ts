/** Form parts with the accessibility wiring done once: labels, hints, errors read out with their field. */
import { html } from 'hono/html';
import { CSRF_FIELD } from '../csrf';
import type { Html } from './layout';

export interface FieldProps {
  /** Both the name and the id of the input. */
  id: string;
  label: string;
  type?: 'text' | 'password';
  value?: string;
  autocomplete: string;
  hint?: string;
  error?: string | null;
  /** Ids of other elements that describe this field, e.g. a form-wide error. */
  describedBy?: string[];
  /** Marks the field wrong when the error shown is form-wide (a wrong password, a wrong code). */
  invalid?: boolean;
  autofocus?: boolean;
  inputmode?: 'numeric' | 'text';
  /** Names and codes: no auto-capitalised first letter, no spell-check squiggles, no autocorrect. */
  autocapitalize?: 'none' | 'characters';
  maxlength?: number;
}

export function field(p: FieldProps): Html {
  const hintId = `${p.id}-hint`;
  const errorId = `${p.id}-error`;
  const describedBy = [...(p.hint ? [hintId] : []), ...(p.error ? [errorId] : []), ...(p.describedBy ?? [])];
  // Optional attributes; an empty string renders nothing.
  const optional = [
    p.value ? html` value="${p.value}"` : '',
    p.maxlength ? html` maxlength="${p.maxlength}"` : '',
    p.inputmode ? html` inputmode="${p.inputmode}"` : '',
    p.autocapitalize ? html` autocapitalize="${p.autocapitalize}" spellcheck="false" autocorrect="off"` : '',
    describedBy.length ? html` aria-describedby="${describedBy.join(' ')}"` : '',
    p.error || p.invalid ? html` aria-invalid="true"` : '',
    p.autofocus ? html` autofocus` : '',
  ];
  return html`<div class="field">
<label for="${p.id}">${p.label}</label>
${p.hint ? html`<p class="hint" id="${hintId}">${p.hint}</p>` : ''}
<input id="${p.id}" name="${p.id}" type="${p.type ?? 'text'}" autocomplete="${p.autocomplete}" required${optional}>
${p.error ? html`<p class="field-error" id="${errorId}" role="alert">${p.error}</p>` : ''}
</div>`;
}

export const FORM_ERROR_ID = 'form-error';

/** An error about the whole form (a wrong password, a lockout), announced as soon as the page loads. */
export function formError(message: string | null): Html | string {
  return message ? html`<p class="alert" id="${FORM_ERROR_ID}" role="alert">${message}</p>` : '';
}

/** A calm notice (signed out, sign-in expired): a status, not an alarm. */
export function notice(message: string | null): Html | string {
  return message ? html`<p class="notice" role="status">${message}</p>` : '';
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${token}">`;
}
