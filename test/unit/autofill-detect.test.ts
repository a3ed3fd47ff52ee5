// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CodeField, findCodeField } from '../../extension/src/autofill/detect';
import { watchCodeField } from '../../extension/src/autofill/watch';
import { closePages, openFixture, page } from '../support/pages';

const click = (doc: Document, id: string) => (doc.getElementById(id) as HTMLButtonElement).click();
const names = (field: CodeField | null) =>
  field === null
    ? null
    : field.kind === 'single'
      ? field.input.id
      : field.inputs.map((i) => i.getAttribute('aria-label') ?? i.name);

afterEach(closePages);

describe('our /login MFA page', () => {
  it('finds the backup-code field on the backup-code step', () => {
    const doc = openFixture('login-mfa.html');
    expect(findCodeField(doc)).toEqual({ kind: 'single', input: doc.getElementById('backup_code') });
  });

  it("does not take the authenticator step's one-time-code field for it", () => {
    expect(findCodeField(openFixture('login-mfa-totp.html'))).toBeNull();
  });
});

describe('a page that switches forms without a reload', () => {
  it('finds the backup-code field only while it is shown', () => {
    const doc = openFixture('switch-forms.html');
    expect(findCodeField(doc)).toBeNull();

    click(doc, 'use-backup');
    expect(findCodeField(doc)).toEqual({ kind: 'single', input: doc.getElementById('backup_code') });

    click(doc, 'use-totp');
    expect(findCodeField(doc)).toBeNull();
  });

  it('follows the switch to "Use a backup code" by watching the DOM', async () => {
    const doc = openFixture('switch-forms.html');
    const seen: (string | string[] | null)[] = [];
    const stop = watchCodeField(doc, (field) => seen.push(names(field)));
    expect(seen).toEqual([]);

    click(doc, 'use-backup');
    await vi.waitFor(() => expect(seen).toEqual(['backup_code']));
    click(doc, 'use-totp');
    await vi.waitFor(() => expect(seen).toEqual(['backup_code', null]));
    stop();
  });
});

describe('other page shapes', () => {
  it('finds a code split across ten one-symbol boxes, in order, and not the 6-box authenticator code', () => {
    const field = findCodeField(openFixture('split-boxes.html'));
    expect(field?.kind).toBe('split');
    expect(names(field)).toEqual(Array.from({ length: 10 }, (_, i) => `Symbol ${i + 1}`));
  });

  it('finds a field the page adds one second after load', async () => {
    const doc = openFixture('late-field.html');
    expect(findCodeField(doc)).toBeNull();
    const found = vi.fn();
    const stop = watchCodeField(doc, found);
    expect(found).not.toHaveBeenCalled();

    await vi.waitFor(() => expect(found).toHaveBeenCalledTimes(1), { timeout: 3000 });
    const field = found.mock.calls[0]?.[0] as CodeField;
    expect(field.kind === 'single' && field.input.name).toBe('recoveryCode');
    stop();
  });

  it('reads French labels too', () => {
    const doc = page(
      '<label for="c">Code de récupération</label><input id="c" autocomplete="one-time-code">',
    );
    expect(names(findCodeField(doc))).toBe('c');
  });
});

describe('decoys', () => {
  it.each(['decoy-zip.html', 'decoy-coupon.html', 'decoy-search.html'])(
    '%s has no backup-code field',
    async (name) => {
      const doc = openFixture(name);
      expect(findCodeField(doc)).toBeNull();
      const found = vi.fn();
      watchCodeField(doc, found)();
      expect(found).not.toHaveBeenCalled();
    },
  );

  it.each([
    ['a one-time code without backup words', '<label for="c">Authenticator code</label>'],
    ['backup words without one-time-code', '<label for="c">Backup code</label>'],
  ])('rejects %s', (_, label) => {
    const autocomplete = label.includes('Authenticator') ? 'one-time-code' : 'off';
    expect(findCodeField(page(`${label}<input id="c" autocomplete="${autocomplete}">`))).toBeNull();
  });

  it.each([
    ['disabled', 'disabled'],
    ['read-only', 'readonly'],
    ['a number input', 'type="number"'],
    ['too short for a code', 'maxlength="6"'],
    ['hidden', 'hidden'],
    ['invisible', 'style="visibility:hidden"'],
  ])('rejects a backup-code field that is %s', (_, attribute) => {
    const html = `<label for="c">Backup code</label><input id="c" autocomplete="one-time-code" ${attribute}>`;
    expect(findCodeField(page(html))).toBeNull();
  });

  it('rejects split boxes of the wrong count', () => {
    const boxes = Array.from({ length: 8 }, () => '<input maxlength="1" autocomplete="one-time-code">').join(
      '',
    );
    expect(findCodeField(page(`<fieldset><legend>Backup code</legend>${boxes}</fieldset>`))).toBeNull();
  });
});

describe('watching', () => {
  it('does not rescan for its own button, and reports a field that goes away', async () => {
    const doc = page(
      '<div id="step"><label for="c">Backup code</label><input id="c" autocomplete="one-time-code"></div>',
    );
    const seen: unknown[] = [];
    const stop = watchCodeField(doc, (field) => seen.push(names(field)));
    expect(seen).toEqual(['c']);

    doc.getElementById('c')?.after(doc.createElement('sparekey-autofill'));
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(seen).toEqual(['c']);

    doc.getElementById('step')?.remove();
    await vi.waitFor(() => expect(seen).toEqual(['c', null]));
    stop();
  });
});
