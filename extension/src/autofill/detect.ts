/**
 * Finds the backup-code field of an MFA step in any Document. Pure DOM: no extension API, so it runs the
 * same in the content script and in unit tests.
 *
 * A field qualifies only when the page marks it as a one-time code (autocomplete="one-time-code") AND its
 * label, name, id or placeholder speaks of a backup / recovery code: either alone matches authenticator
 * boxes, ZIP codes or coupons, which must never receive a backup code.
 */
import { CODE_LENGTH } from '../../../shared/codes';

export type CodeField =
  | { kind: 'single'; input: HTMLInputElement }
  /** One box per symbol, in document order. */
  | { kind: 'split'; inputs: HTMLInputElement[] };

/** Matched against normalised text (lower case, no accents, words split): English and French wording. */
const KEYWORDS = ['backup', 'back up', 'recovery', 'recover', 'scratch', 'secours', 'recuperation'];
/** Words that mean some other code even next to a keyword ("gift card recovery", "search backups"). */
const DECOYS = ['zip', 'postal', 'postcode', 'coupon', 'promo', 'voucher', 'discount', 'gift', 'search'];
/** Types that can hold XXXXX-XXXXX; number, email and search inputs cannot or are not code fields. */
const TEXT_TYPES = new Set(['text', 'tel', 'password']);

export function normalizeText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

const hasAny = (text: string, words: string[]) => words.some((word) => text.includes(word));

function isOneTimeCode(input: HTMLInputElement): boolean {
  // Stryker disable next-line Regex: splitting at each space only adds empty tokens, which match nothing
  return (input.getAttribute('autocomplete') ?? '').toLowerCase().split(/\s+/).includes('one-time-code');
}

function textOfIds(doc: Document, ids: string | null): string {
  // Stryker disable next-line StringLiteral: Stryker's text for '' holds no keyword or decoy and stands apart
  if (!ids) return '';
  return ids
    .split(/\s+/)
    .map((id) => doc.getElementById(id)?.textContent ?? '')
    .join(' ');
}

function labelsOf(input: HTMLInputElement): string {
  // Stryker disable next-line ArrayDeclaration,StringLiteral: null only for type=hidden (never offered) and a label's text
  const texts = [...(input.labels ?? [])].map((label) => label.textContent ?? '');
  return texts.join(' ');
}

/** Everything that names one input, as a user or assistive technology would read it. */
function describeInput(input: HTMLInputElement): string {
  return normalizeText(
    [
      labelsOf(input),
      input.getAttribute('aria-label') ?? '',
      textOfIds(input.ownerDocument, input.getAttribute('aria-labelledby')),
      input.name,
      input.id,
      input.placeholder,
      input.title,
    ].join(' '),
  );
}

/** Hidden fields are not offered: a page that switches forms keeps the other one in the DOM. */
export function isShown(element: Element): boolean {
  if (
    typeof element.checkVisibility === 'function' &&
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: the walk below reads the element's own (inherited) visibility
    !element.checkVisibility({ visibilityProperty: true })
  ) {
    return false;
  }
  const view = element.ownerDocument.defaultView;
  for (let node: Element | null = element; node; node = node.parentElement) {
    if (node.hasAttribute('hidden')) return false;
    const style = view?.getComputedStyle(node);
    if (style?.display === 'none' || (node === element && style?.visibility === 'hidden')) return false;
  }
  return true;
}

function isFillable(input: HTMLInputElement): boolean {
  return TEXT_TYPES.has(input.type) && !input.disabled && !input.readOnly && isShown(input);
}

function qualifies(text: string): boolean {
  return hasAny(text, KEYWORDS) && !hasAny(text, DECOYS);
}

function findSingle(inputs: HTMLInputElement[]): HTMLInputElement | undefined {
  return inputs.find(
    (input) =>
      // Too short for a code: an authenticator box (maxlength 6) or one box of a split field.
      (input.maxLength < 0 || input.maxLength >= CODE_LENGTH) &&
      isOneTimeCode(input) &&
      qualifies(describeInput(input)),
  );
}

/** The closest ancestor holding more than one single-symbol box: the group the boxes form together. */
function groupOf(box: HTMLInputElement, boxes: HTMLInputElement[]): Element | null {
  const explicit = box.closest('fieldset, [role="group"]');
  if (explicit) return explicit;
  for (let node = box.parentElement; node; node = node.parentElement) {
    if (boxes.some((other) => other !== box && node.contains(other))) return node;
  }
  return null;
}

function describeGroup(group: Element, boxes: HTMLInputElement[]): string {
  const doc = group.ownerDocument;
  const legend = group.matches('fieldset') ? (group.querySelector(':scope > legend')?.textContent ?? '') : '';
  const previous = group.previousElementSibling;
  const heading = previous?.matches('label, legend, h1, h2, h3, h4, h5, h6')
    ? (previous.textContent ?? '')
    : '';
  return normalizeText(
    [
      legend,
      heading,
      group.getAttribute('aria-label') ?? '',
      textOfIds(doc, group.getAttribute('aria-labelledby')),
      ...boxes.map(describeInput),
    ].join(' '),
  );
}

function findSplit(inputs: HTMLInputElement[]): HTMLInputElement[] | undefined {
  const boxes = inputs.filter((input) => input.maxLength === 1);
  const groups = new Map<Element, HTMLInputElement[]>();
  for (const box of boxes) {
    const group = groupOf(box, boxes);
    // Stryker disable next-line ConditionalExpression: only a lone box has no group, and one box is never a code
    if (!group) continue;
    groups.set(group, [...(groups.get(group) ?? []), box]);
  }
  for (const [group, members] of groups) {
    if (
      members.length === CODE_LENGTH &&
      members.some(isOneTimeCode) &&
      qualifies(describeGroup(group, members))
    ) {
      return members;
    }
  }
  return undefined;
}

/** The first backup-code field in document order, or null. */
export function findCodeField(doc: Document): CodeField | null {
  const inputs = [...doc.querySelectorAll('input')].filter(isFillable);
  const input = findSingle(inputs);
  const split = findSplit(inputs);
  if (input && split) {
    // Both shapes on one page: the one earlier in the document is the visible step's field.
    const splitFirst = split[0] as HTMLInputElement;
    const order = input.compareDocumentPosition(splitFirst);
    return order & Node.DOCUMENT_POSITION_FOLLOWING
      ? { kind: 'single', input }
      : { kind: 'split', inputs: split };
  }
  if (input) return { kind: 'single', input };
  if (split) return { kind: 'split', inputs: split };
  return null;
}

export function fieldInputs(field: CodeField): HTMLInputElement[] {
  return field.kind === 'single' ? [field.input] : field.inputs;
}

export function sameField(a: CodeField | null, b: CodeField | null): boolean {
  if (!a || !b) return a === b;
  const x = fieldInputs(a);
  const y = fieldInputs(b);
  return x.length === y.length && x.every((input, i) => input === y[i]);
}
