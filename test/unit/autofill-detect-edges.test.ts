// @vitest-environment happy-dom
/**
 * The edges of "is this the backup-code field?": every way a page can name a field, the sizes and
 * types that can hold a code, what hides a field, and split boxes. A wrong yes fills a code into a
 * ZIP or authenticator box; a wrong no leaves the user without autofill.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CodeField,
  fieldInputs,
  findCodeField,
  normalizeText,
  sameField,
} from '../../extension/src/autofill/detect';
import { closePages, page } from '../support/pages';

afterEach(closePages);

const OTC = 'autocomplete="one-time-code"';
/** The id of the single field found, 'split' with its box count, or null. */
function found(html: string): string | null {
  const field = findCodeField(page(html));
  if (field?.kind === 'single') return field.input.id;
  if (field?.kind === 'split') return `split:${field.inputs.length}`;
  return field === null ? null : 'unknown shape';
}
const boxes = (n: number, attributes = OTC) =>
  Array.from({ length: n }, (_, i) => `<input id="b${i + 1}" maxlength="1" ${attributes}>`).join('');

describe('the words that name a field', () => {
  it('are read with accents, case, camelCase and punctuation flattened', () => {
    expect(normalizeText('  Code de RÉCUPÉRATION :  ')).toBe('code de recuperation');
    expect(normalizeText('recoveryCode')).toBe('recovery code');
    expect(normalizeText('backup_code-field')).toBe('backup code field');
    expect(normalizeText('Back -- up  code')).toBe('back up code');
    expect(normalizeText('Zürich ÀÉÎ')).toBe('zurich aei');
  });

  it.each([
    ['a <label for>', '<label for="c">Backup code</label><input id="c" OTC>'],
    ['a wrapping <label>', '<label>Recovery code <input id="c" OTC></label>'],
    ['aria-label', '<input id="c" aria-label="Backup code" OTC>'],
    ['aria-labelledby only', '<span id="l">Backup code</span><input id="c" aria-labelledby="l" OTC>'],
    [
      'aria-labelledby naming several elements, one missing',
      '<span id="a">Enter your</span><span id="b">recovery code</span><input id="c" aria-labelledby="gone a  b" OTC>',
    ],
    ['its name', '<input id="c" name="recoveryCode" OTC>'],
    ['its id', '<input id="backup_code" OTC>'],
    ['its placeholder', '<input id="c" placeholder="Scratch code" OTC>'],
    ['its title', '<input id="c" title="Code de secours" OTC>'],
    ['"back up" in two words', '<input id="c" aria-label="Back up code" OTC>'],
  ])('a field named only by %s is found', (_, html) => {
    const doc = page(html.replace('OTC', OTC));
    const field = findCodeField(doc);
    expect(field?.kind).toBe('single');
    expect(field && fieldInputs(field)[0]).toBe(doc.querySelector('input'));
  });

  it.each([
    ['a gift card', 'Gift card recovery code'],
    ['a search box', 'Search backups'],
    ['a ZIP code', 'Backup ZIP code'],
    ['a voucher', 'Recovery voucher'],
  ])('a field that names %s next to a backup word is not', (_, label) => {
    expect(found(`<input id="c" aria-label="${label}" ${OTC}>`)).toBeNull();
  });

  it('a label of some other field does not name this one', () => {
    expect(
      found(`<label for="other">Backup code</label><input id="other" type="email"><input id="c" ${OTC}>`),
    ).toBeNull();
    expect(found(`<span id="l">Backup code</span><input id="c" aria-describedby="l" ${OTC}>`)).toBeNull();
  });

  it('one-time-code is read as one token of the autocomplete list, in any case', () => {
    const named = 'aria-label="Backup code"';
    expect(found(`<input id="c" ${named} autocomplete="section-mfa ONE-TIME-CODE">`)).toBe('c');
    expect(found(`<input id="c" ${named} autocomplete="one-time-codes">`)).toBeNull();
    expect(found(`<input id="c" ${named} autocomplete="no-one-time-code">`)).toBeNull();
    expect(found(`<input id="c" ${named}>`)).toBeNull();
  });
});

describe('the fields that can hold a code', () => {
  const field = (attributes: string) => found(`<input id="c" aria-label="Backup code" ${OTC} ${attributes}>`);

  it('a maxlength of 10 or more, or none, holds a code; 9 does not', () => {
    expect(field('maxlength="10"')).toBe('c');
    expect(field('maxlength="11"')).toBe('c');
    expect(field('')).toBe('c');
    expect(field('maxlength="9"')).toBeNull();
    expect(field('maxlength="1"')).toBeNull();
    expect(field('maxlength="0"')).toBeNull();
  });

  it('text, tel and password inputs hold a code; email, search and number do not', () => {
    for (const type of ['text', 'tel', 'password', 'TEL']) expect(field(`type="${type}"`)).toBe('c');
    for (const type of ['email', 'search', 'number', 'url']) expect(field(`type="${type}"`)).toBeNull();
  });

  it('a disabled or read-only field is not offered', () => {
    expect(field('disabled')).toBeNull();
    expect(field('readonly')).toBeNull();
  });
});

/** The same page in a browser without Element.checkVisibility (Firefox before 106, Safari before 17.4). */
function foundWithoutCheckVisibility(html: string): string | null {
  const doc = page(html);
  const view = doc.defaultView as unknown as { Element: { prototype: Record<string, unknown> } };
  view.Element.prototype.checkVisibility = undefined;
  const field = findCodeField(doc);
  return field?.kind === 'single' ? field.input.id : field ? 'split' : null;
}

describe.each([
  ['', found],
  [' (a browser without checkVisibility)', foundWithoutCheckVisibility],
])('hidden fields%s', (_, find) => {
  const FIELD = `<input id="c" aria-label="Backup code" ${OTC}>`;

  it('an ancestor with display:none hides a field', () => {
    expect(find(`<div style="display:none"><div><p>${FIELD}</p></div></div>`)).toBeNull();
    expect(find(`<section><div style="display: none">${FIELD}</div></section>`)).toBeNull();
  });

  it('an ancestor with the hidden attribute hides a field', () => {
    expect(find(`<div hidden><div>${FIELD}</div></div>`)).toBeNull();
  });

  it('the field itself with the hidden attribute, display:none or visibility:hidden is hidden', () => {
    expect(find(`<input id="c" aria-label="Backup code" ${OTC} hidden>`)).toBeNull();
    expect(find(`<input id="c" aria-label="Backup code" ${OTC} style="display:none">`)).toBeNull();
    expect(find(`<input id="c" aria-label="Backup code" ${OTC} style="visibility:hidden">`)).toBeNull();
  });

  it('a shown field inside shown ancestors is found', () => {
    expect(find(`<div style="display:block"><form>${FIELD}</form></div>`)).toBe('c');
  });
});

it("a field the browser's checkVisibility reports hidden is not offered, whatever its styles say", () => {
  // e.g. under content-visibility:hidden, which only the browser's layout knows (happy-dom has none).
  const doc = page(`<div id="skipped"><input id="c" aria-label="Backup code" ${OTC}></div>`);
  const view = doc.defaultView as unknown as { Element: { prototype: { checkVisibility: unknown } } };
  view.Element.prototype.checkVisibility = function (this: Element) {
    return !this.closest('#skipped');
  };
  expect(findCodeField(doc)).toBeNull();
  doc.getElementById('skipped')?.removeAttribute('id');
  expect(findCodeField(doc)?.kind).toBe('single');
});

it('without checkVisibility, a field that sets visibility:visible inside a visibility:hidden ancestor is shown', () => {
  // As in browsers: visibility is inherited and a child may override it. (happy-dom's own
  // checkVisibility gets this case wrong, so it is checked only on the fallback path.)
  const field = `<input id="c" aria-label="Backup code" ${OTC} style="visibility:visible">`;
  expect(foundWithoutCheckVisibility(`<div style="visibility:hidden">${field}</div>`)).toBe('c');
});

it('a document no window shows (as DOMParser makes) is read by its attributes alone: the hidden attribute still hides', () => {
  const doc = page(
    `<input id="c" aria-label="Backup code" ${OTC}><input id="d" hidden aria-label="Backup code" ${OTC}>`,
  );
  // Browsers give such a document no defaultView, so no computed style can be asked for.
  Object.defineProperty(doc, 'defaultView', { value: null });
  // Nor does checkVisibility answer for it: the fallback walk decides.
  for (const id of ['c', 'd'])
    Object.assign(doc.getElementById(id) as Element, { checkVisibility: undefined });
  expect(fieldInputs(findCodeField(doc) as CodeField).map((input) => input.id)).toEqual(['c']);
});

describe('a code split into one box per symbol', () => {
  it('ten boxes in a fieldset whose legend names a backup code', () => {
    expect(found(`<fieldset><legend>Backup code</legend>${boxes(10)}</fieldset>`)).toBe('split:10');
  });

  it('ten boxes in a group named by aria-label or aria-labelledby', () => {
    expect(found(`<div role="group" aria-label="Recovery code">${boxes(10)}</div>`)).toBe('split:10');
    expect(
      found(
        `<h2 id="t">Recovery code</h2><p>Type it</p><div aria-labelledby="t" role="group">${boxes(10)}</div>`,
      ),
    ).toBe('split:10');
  });

  it('ten boxes under a heading or label just before their container', () => {
    expect(found(`<h3>Backup code</h3><div>${boxes(10)}</div>`)).toBe('split:10');
    expect(found(`<label>Backup code</label><div>${boxes(10)}</div>`)).toBe('split:10');
    // A paragraph before the boxes is not their name.
    expect(found(`<p>Backup code</p><div>${boxes(10)}</div>`)).toBeNull();
  });

  it('the boxes may be wrapped one by one; their nearest common container is the group', () => {
    const wrapped = Array.from(
      { length: 10 },
      (_, i) => `<span><input id="b${i}" maxlength="1" ${OTC}></span>`,
    ).join('');
    expect(found(`<h2>Backup code</h2><div>${wrapped}</div>`)).toBe('split:10');
  });

  it('a fieldset is the group even when the boxes sit in rows inside it', () => {
    const rows = `<div>${boxes(5)}</div><div>${boxes(5)}</div>`;
    expect(found(`<fieldset><legend>Backup code</legend>${rows}</fieldset>`)).toBe('split:10');
  });

  it('a wider field beside the ten boxes is not one of them', () => {
    const note = '<input id="note" type="text" aria-label="Note">';
    expect(found(`<fieldset><legend>Backup code</legend>${boxes(10)}${note}</fieldset>`)).toBe('split:10');
  });

  it('one box marked one-time-code is enough; none is not', () => {
    const first = `<input maxlength="1" ${OTC}>${boxes(9, '')}`;
    expect(found(`<fieldset><legend>Backup code</legend>${first}</fieldset>`)).toBe('split:10');
    expect(found(`<fieldset><legend>Backup code</legend>${boxes(10, '')}</fieldset>`)).toBeNull();
  });

  it('ten boxes without a backup word, or with a decoy, are not', () => {
    expect(found(`<fieldset><legend>Verification code</legend>${boxes(10)}</fieldset>`)).toBeNull();
    expect(found(`<fieldset><legend>Backup coupon code</legend>${boxes(10)}</fieldset>`)).toBeNull();
  });

  it('eleven or nine boxes are not a code', () => {
    expect(found(`<fieldset><legend>Backup code</legend>${boxes(11)}</fieldset>`)).toBeNull();
    expect(found(`<fieldset><legend>Backup code</legend>${boxes(9)}</fieldset>`)).toBeNull();
  });

  it('a legend of a nested fieldset does not name the outer group', () => {
    expect(
      found(`<fieldset><fieldset><legend>Backup code</legend></fieldset>${boxes(10)}</fieldset>`),
    ).toBeNull();
  });

  it('a lone box with no other box beside it is no group', () => {
    expect(found(`<h2>Backup code</h2><input maxlength="1" ${OTC}>`)).toBeNull();
  });
});

describe('a page with both a single field and split boxes', () => {
  const single = `<input id="c" aria-label="Backup code" ${OTC}>`;
  const split = `<fieldset><legend>Backup code</legend>${boxes(10)}</fieldset>`;

  it('offers the one that comes first in the document', () => {
    expect(found(`${single}${split}`)).toBe('c');
    expect(found(`${split}${single}`)).toBe('split:10');
  });
});

describe('comparing found fields', () => {
  it('the same field found twice is the same; another field, another shape or none is not', () => {
    const doc = page(
      `<input id="a" aria-label="Backup code" ${OTC}><input id="b" aria-label="Backup code" ${OTC}>` +
        `<fieldset><legend>Backup code</legend>${boxes(10)}</fieldset>`,
    );
    const [a, b] = [...doc.querySelectorAll('input')] as HTMLInputElement[];
    if (!a || !b) throw new Error('inputs expected');
    const splitInputs = [...doc.querySelectorAll<HTMLInputElement>('fieldset input')];
    const single = (input: HTMLInputElement): CodeField => ({ kind: 'single', input });
    const split = (inputs: HTMLInputElement[]): CodeField => ({ kind: 'split', inputs });

    expect(sameField(findCodeField(doc), findCodeField(doc))).toBe(true);
    expect(sameField(single(a), single(a))).toBe(true);
    expect(sameField(single(a), single(b))).toBe(false);
    expect(sameField(split(splitInputs), split([...splitInputs]))).toBe(true);
    expect(sameField(split(splitInputs), split(splitInputs.slice(0, 9)))).toBe(false);
    expect(sameField(split(splitInputs.slice(0, 9)), split(splitInputs))).toBe(false);
    expect(sameField(split(splitInputs), split([...splitInputs.slice(0, 9), a]))).toBe(false);
    expect(sameField(split(splitInputs), split([...splitInputs].reverse()))).toBe(false);
    expect(sameField(single(a), split([a]))).toBe(true);
    expect(sameField(null, null)).toBe(true);
    expect(sameField(single(a), null)).toBe(false);
    expect(sameField(null, single(a))).toBe(false);
    expect(fieldInputs(split(splitInputs))).toEqual(splitInputs);
  });
});
