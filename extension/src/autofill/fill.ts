/**
 * Puts a code into a detected field the way typing would, so pages that listen for events (React, Vue,
 * auto-advancing split boxes, submit buttons enabled on input) see it as well as the plain form does.
 */
import { formatCode, normalizeCode } from '../../../shared/codes';
import { type CodeField, fieldInputs } from './detect';

/** Events are built by the input's own window, so the fill works on any Document. */
function viewOf(input: HTMLInputElement): Window & typeof globalThis {
  return input.ownerDocument.defaultView ?? window;
}

/**
 * Sets the value through the prototype's setter: frameworks that track an element's own `value`
 * property (React) then notice the change on the next input event instead of ignoring it.
 */
function setValue(input: HTMLInputElement, value: string): void {
  const setter = Object.getOwnPropertyDescriptor(viewOf(input).HTMLInputElement.prototype, 'value')?.set;
  if (setter) setter.call(input, value);
  else input.value = value;
}

function focus(input: HTMLInputElement): void {
  let seen = false;
  const note = () => {
    seen = true;
  };
  input.addEventListener('focus', note, { once: true });
  input.focus();
  input.removeEventListener('focus', note);
  // A background tab or an unfocused window does not move focus: tell the page's listeners anyway.
  if (!seen) {
    const { FocusEvent } = viewOf(input);
    input.dispatchEvent(new FocusEvent('focus'));
    input.dispatchEvent(new FocusEvent('focusin', { bubbles: true, composed: true }));
  }
}

function key(input: HTMLInputElement, type: 'keydown' | 'keyup', symbol: string): void {
  const { KeyboardEvent } = viewOf(input);
  input.dispatchEvent(
    new KeyboardEvent(type, {
      key: symbol,
      code: /[0-9]/.test(symbol) ? `Digit${symbol}` : symbol === '-' ? 'Minus' : `Key${symbol}`,
      bubbles: true,
      cancelable: true,
      composed: true,
    }),
  );
}

/** Types `text` into `input` one symbol at a time, as a keyboard would. */
function type(input: HTMLInputElement, text: string): void {
  const { Event, InputEvent } = viewOf(input);
  focus(input);
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charAt(i);
    key(input, 'keydown', symbol);
    setValue(input, text.slice(0, i + 1));
    input.dispatchEvent(
      new InputEvent('input', { inputType: 'insertText', data: symbol, bubbles: true, composed: true }),
    );
    key(input, 'keyup', symbol);
  }
  input.dispatchEvent(new Event('change', { bubbles: true }));
}

/** XXXXX-XXXXX where it fits the field, else the 10 bare symbols (the server accepts both). */
function textFor(input: HTMLInputElement, canonical: string): string {
  const formatted = formatCode(canonical);
  const fitsLength = input.maxLength < 0 || input.maxLength >= formatted.length;
  let fitsPattern = true;
  if (input.pattern) {
    try {
      fitsPattern = new RegExp(`^(?:${input.pattern})$`, 'v').test(formatted);
    } catch {
      fitsPattern = true;
    }
  }
  return fitsLength && fitsPattern ? formatted : canonical;
}

/**
 * Fills `code` into `field`; true when the field then holds exactly that code (a page script that
 * rewrote or blocked the value makes it false, and the caller says the fill did not work).
 */
export function fillCodeField(field: CodeField, code: string): boolean {
  const canonical = normalizeCode(code);
  if (!canonical) return false;
  if (field.kind === 'single') {
    type(field.input, textFor(field.input, canonical));
  } else {
    field.inputs.forEach((box, i) => {
      type(box, canonical.charAt(i));
    });
  }
  const filled = fieldInputs(field)
    .map((input) => input.value)
    .join('');
  return normalizeCode(filled) === canonical;
}
