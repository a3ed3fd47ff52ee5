// @vitest-environment node
/**
 * The visibility checks on the server's backup-code step. happy-dom computes styles but lays nothing
 * out, so each test gives the elements their boxes and answers hit tests the way a browser does
 * (topmost box first, boxes with pointer-events: none left out); the real layout is exercised by
 * test/e2e/autofill-hostile.test.ts in Chromium.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { concealment } from '../../extension/src/autofill/visibility';
import { closePages, openFixture } from '../support/pages';

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

const VIEWPORT = { width: 900, height: 700 };
const FIELD_BOX: Box = { left: 100, top: 300, width: 320, height: 36 };

function rectOf({ left, top, width, height }: Box): DOMRect {
  return {
    left,
    top,
    width,
    height,
    right: left + width,
    bottom: top + height,
    x: left,
    y: top,
    toJSON: () => ({}),
  } as DOMRect;
}

/**
 * The login fixture with a layout: the page's boxes, the field on top, then the boxes `change` returns,
 * painted over it in order. Returns the document and the field.
 */
function laidOut(change?: (doc: Document) => [Element, Box][] | undefined) {
  const doc = openFixture('login-mfa.html');
  const extra = change?.(doc) ?? [];
  const view = doc.defaultView as Window & typeof globalThis;
  Object.assign(view, { innerWidth: VIEWPORT.width, innerHeight: VIEWPORT.height });
  const field = doc.getElementById('backup_code') as HTMLInputElement;
  const page: Box = { left: 0, top: 0, width: VIEWPORT.width, height: VIEWPORT.height };
  const painted: [Element, Box][] = [
    [doc.documentElement, page],
    [doc.body, page],
    [doc.querySelector('main') as Element, { left: 80, top: 100, width: 600, height: 400 }],
    [doc.querySelector('form') as Element, { left: 90, top: 250, width: 560, height: 160 }],
    [doc.querySelector('.field') as Element, { left: 90, top: 250, width: 560, height: 100 }],
    [field, FIELD_BOX],
    ...extra,
  ];
  const boxes = new Map(painted);
  for (const [element] of painted) element.getBoundingClientRect = () => rectOf(boxes.get(element) as Box);
  Object.assign(doc, {
    elementsFromPoint: (x: number, y: number) =>
      painted
        .filter(([element, box]) => {
          const rect = rectOf(box);
          const hit = x >= rect.left && x < rect.right && y >= rect.top && y < rect.bottom;
          return hit && view.getComputedStyle(element).pointerEvents !== 'none';
        })
        .map(([element]) => element)
        .reverse(),
  });
  return { doc, field };
}

/** An element appended to the body with inline style `css`. */
function added(doc: Document, css: string): HTMLElement {
  const element = doc.createElement('div');
  element.setAttribute('style', css);
  doc.body.append(element);
  return element;
}

afterEach(closePages);

describe("the server's own step, untouched", () => {
  it('shows the field plainly', () => {
    expect(concealment(laidOut().field)).toBeNull();
  });

  it('stays plain with an opacity a user still reads (0.95)', () => {
    const { field } = laidOut((doc) => {
      doc.querySelector('main')?.setAttribute('style', 'opacity: 0.95');
      return undefined;
    });
    expect(concealment(field)).toBeNull();
  });
});

describe('a page that hides the field', () => {
  it.each([
    ['opacity 0 on the field', '#backup_code', 'opacity: 0', 'transparent'],
    ['opacity 0 on an ancestor', 'form', 'opacity: 0', 'transparent'],
    ['visibility: hidden', '#backup_code', 'visibility: hidden', 'not_rendered'],
    ['display: none on an ancestor', '.field', 'display: none', 'not_rendered'],
    ['a filter', 'main', 'filter: opacity(0)', 'effects'],
    ['a mask', 'form', 'mask-image: linear-gradient(transparent, transparent)', 'effects'],
    ['a blend mode', '.field', 'mix-blend-mode: multiply', 'effects'],
    ['a shrinking transform', 'form', 'transform: scale(0.01)', 'effects'],
    ['clip-path', '.field', 'clip-path: inset(50%)', 'clipped'],
    ['clip', '#backup_code', 'position: absolute; clip: rect(0, 0, 0, 0)', 'clipped'],
  ])('%s', (_, selector, css, expected) => {
    const { field } = laidOut((doc) => {
      doc.querySelector(selector)?.setAttribute('style', css);
      return undefined;
    });
    expect(concealment(field)).toBe(expected);
  });

  it('counts opacity along the ancestors, multiplied: 0.5 and 0.5 leave a quarter', () => {
    const { field } = laidOut((doc) => {
      doc.querySelector('main')?.setAttribute('style', 'opacity: 0.5');
      doc.querySelector('form')?.setAttribute('style', 'opacity: 0.5');
      return undefined;
    });
    expect(concealment(field)).toBe('transparent');
  });

  it('refuses a field cut off by an ancestor that clips its overflow', () => {
    const { doc, field } = laidOut((d) => {
      d.querySelector('.field')?.setAttribute('style', 'overflow: hidden');
      return undefined;
    });
    const wrapper = doc.querySelector('.field') as HTMLElement;
    const showing = (height: number) => {
      wrapper.getBoundingClientRect = () => rectOf({ left: 90, top: 250, width: 560, height });
      for (const [name, value] of Object.entries({
        clientWidth: 560,
        clientHeight: height,
        clientLeft: 0,
        clientTop: 0,
      })) {
        Object.defineProperty(wrapper, name, { value, configurable: true });
      }
    };
    showing(100);
    expect(concealment(field)).toBeNull();
    // The wrapper shrinks to a sliver above the field: the field is outside what it shows.
    showing(20);
    expect(concealment(field)).toBe('clipped');
  });

  it('refuses a field too small to read, or off the window', () => {
    const small = laidOut();
    small.field.getBoundingClientRect = () => rectOf({ left: 100, top: 300, width: 4, height: 4 });
    expect(concealment(small.field)).toBe('too_small');
    const away = laidOut();
    away.field.getBoundingClientRect = () => rectOf({ ...FIELD_BOX, left: -5000 });
    expect(concealment(away.field)).toBe('off_screen');
    const below = laidOut();
    below.field.getBoundingClientRect = () => rectOf({ ...FIELD_BOX, top: VIEWPORT.height - 10 });
    expect(concealment(below.field)).toBe('off_screen');
  });

  it('refuses a field taken out of the document', () => {
    const { field } = laidOut();
    field.remove();
    expect(concealment(field)).toBe('not_rendered');
  });
});

describe('a page that covers the field', () => {
  it('refuses an element painted over any of its sample points', () => {
    // Over the right end of the field only: the centre alone would not see it.
    const { field } = laidOut((doc) => [
      [added(doc, 'background: white'), { left: 380, top: 290, width: 60, height: 60 }],
    ]);
    expect(concealment(field)).toBe('covered');
  });

  it('refuses an overlay that lets clicks through (pointer-events: none), which hit testing skips', () => {
    const { doc, field } = laidOut((d) => [
      [added(d, 'pointer-events: none; background: gold'), { left: 0, top: 280, width: 900, height: 80 }],
    ]);
    // Hit testing still answers the field at every point.
    const { left, top, width, height } = FIELD_BOX;
    expect(doc.elementsFromPoint(left + width / 2, top + height / 2)[0]).toBe(field);
    expect(doc.elementsFromPoint(left + 2, top + 2)[0]).toBe(field);
    expect(concealment(field)).toBe('covered');
  });

  it('lets an element elsewhere on the page be, even one that lets clicks through', () => {
    const { field } = laidOut((doc) => [
      [added(doc, 'pointer-events: none'), { left: 0, top: 0, width: 900, height: 40 }],
      [added(doc, 'background: white'), { left: 0, top: 600, width: 900, height: 40 }],
    ]);
    expect(concealment(field)).toBeNull();
  });
});
