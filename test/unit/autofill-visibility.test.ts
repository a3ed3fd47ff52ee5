// @vitest-environment node
/**
 * The visibility checks on the server's backup-code step. happy-dom computes styles but lays nothing
 * out, so each test gives the elements their boxes and answers hit tests the way a browser does
 * (topmost box first, boxes with pointer-events: none left out); the real layout is exercised by
 * test/e2e/autofill-hostile.test.ts in Chromium.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { concealment, watchVisibility } from '../../extension/src/autofill/visibility';
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
function laidOut(change?: (doc: Document) => [Element, Box][] | undefined, fieldBox: Box = FIELD_BOX) {
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
    [field, fieldBox],
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

/** `element` shows `box` as its padding box (what clientLeft/Top/Width/Height say), inside `border` px of border. */
function clientBox(element: Element, box: Box, border = 0): void {
  element.getBoundingClientRect = () =>
    rectOf({
      left: box.left - border,
      top: box.top - border,
      width: box.width + 2 * border,
      height: box.height + 2 * border,
    });
  const client = { clientLeft: border, clientTop: border, clientWidth: box.width, clientHeight: box.height };
  for (const [name, value] of Object.entries(client)) {
    Object.defineProperty(element, name, { value, configurable: true });
  }
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

/** The page as a browser without Element.checkVisibility sees it: the style checks alone decide. */
function withoutCheckVisibility(doc: Document): void {
  const view = doc.defaultView as unknown as { Element: { prototype: { checkVisibility: unknown } } };
  view.Element.prototype.checkVisibility = undefined;
}

describe.each([
  ['', (_: Document) => undefined],
  [' (a browser without checkVisibility)', withoutCheckVisibility],
])('a page that hides the field%s', (_, browser) => {
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
    ['content-visibility: hidden on an ancestor', 'form', 'content-visibility: hidden', 'not_rendered'],
    ['visibility: collapse', '#backup_code', 'visibility: collapse', 'not_rendered'],
  ])('%s', (_, selector, css, expected) => {
    const { field } = laidOut((doc) => {
      browser(doc);
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
    const { doc, field } = laidOut();
    browser(doc);
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

describe('where the lines are drawn', () => {
  const styled = (selector: string, css: string) =>
    laidOut((doc) => {
      doc.querySelector(selector)?.setAttribute('style', css);
      return undefined;
    }).field;

  it('reads a field at exactly the faintest opacity allowed (0.9), not one just below', () => {
    expect(concealment(styled('#backup_code', 'opacity: 0.9'))).toBeNull();
    expect(concealment(styled('#backup_code', 'opacity: 0.89'))).toBe('transparent');
    // 0.95 × 0.94 = 0.893: each alone is readable, together they are not.
    const both = laidOut((doc) => {
      doc.querySelector('main')?.setAttribute('style', 'opacity: 0.95');
      doc.querySelector('#backup_code')?.setAttribute('style', 'opacity: 0.94');
      return undefined;
    });
    expect(concealment(both.field)).toBe('transparent');
  });

  it('accepts a field of the smallest readable size (16 × 10 px), not a pixel less either way', () => {
    const box = (width: number, height: number) => ({ left: 100, top: 300, width, height });
    expect(concealment(laidOut(undefined, box(16, 10)).field)).toBeNull();
    expect(concealment(laidOut(undefined, box(15, 10)).field)).toBe('too_small');
    expect(concealment(laidOut(undefined, box(16, 9)).field)).toBe('too_small');
  });

  it('allows one pixel of rounding at each edge of the window, and no more', () => {
    const { width, height } = FIELD_BOX;
    const at = (left: number, top: number) =>
      concealment(laidOut(undefined, { left, top, width, height }).field);
    expect(at(-1, 300)).toBeNull();
    expect(at(-2, 300)).toBe('off_screen');
    expect(at(100, -1)).toBeNull();
    expect(at(100, -2)).toBe('off_screen');
    expect(at(VIEWPORT.width - width + 1, 300)).toBeNull();
    expect(at(VIEWPORT.width - width + 2, 300)).toBe('off_screen');
    expect(at(100, VIEWPORT.height - height + 1)).toBeNull();
    expect(at(100, VIEWPORT.height - height + 2)).toBe('off_screen');
  });

  it.each([
    ['a mirrored field', '#backup_code', 'transform: matrix(-1, 0, 0, 1, 0, 0)', 'effects'],
    ['a field skewed sideways', '.field', 'transform: matrix(1, 0.5, 0, 1, 0, 0)', 'effects'],
    ['a field skewed upwards', '.field', 'transform: matrix(1, 0, 0.5, 1, 0, 0)', 'effects'],
    ['a field squashed flat', 'form', 'transform: matrix(1, 0, 0, 0.01, 0, 0)', 'effects'],
    ['a move, then a shrink', 'form', 'transform: matrix(1, 0, 0, 1, 30, 0) scale(0.01)', 'effects'],
    ['a shrink, then a move', 'form', 'transform: scale(0.01) matrix(1, 0, 0, 1, 30, 0)', 'effects'],
    ['a 3D turn', 'main', 'transform: matrix3d(1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1)', 'effects'],
  ])('refuses %s', (_, selector, css, expected) => {
    expect(concealment(styled(selector, css))).toBe(expected);
  });

  it.each([
    ['a transform that only moves it', 'form', 'transform: matrix(1, 0, 0, 1, 30, -20)'],
    [
      'transform, filter, mask, clip-path and blend mode written out as none or normal',
      'main',
      'transform: none; filter: none; mask-image: none; clip-path: none; mix-blend-mode: normal',
    ],
    ['clip: auto', '#backup_code', 'clip: auto'],
    ['a wrapper whose overflow shows everything', '.field', 'overflow: visible'],
  ])('shows a field under %s', (_, selector, css) => {
    expect(concealment(styled(selector, css))).toBeNull();
  });

  it('refuses a mask a browser reports only under its -webkit- name', () => {
    const { doc, field } = laidOut();
    const view = doc.defaultView as Window & typeof globalThis;
    const computed = view.getComputedStyle.bind(view);
    const form = doc.querySelector('form');
    // happy-dom drops -webkit-mask-image; a browser that knows masks by that name alone reports it so.
    view.getComputedStyle = (element: Element) => {
      const style = computed(element);
      if (element !== form) return style;
      const read = style.getPropertyValue.bind(style);
      return Object.assign(style, {
        getPropertyValue: (name: string) =>
          name === '-webkit-mask-image' ? 'linear-gradient(transparent, transparent)' : read(name),
      });
    };
    expect(concealment(field)).toBe('effects');
  });

  it("obeys the browser's checkVisibility, asked about visibility and content-visibility: auto too", () => {
    const { field } = laidOut();
    // A field in a section skipped by content-visibility: auto, as Chromium answers.
    const asked: unknown[] = [];
    field.checkVisibility = (options?: CheckVisibilityOptions) => {
      asked.push(options);
      return !(options?.contentVisibilityAuto && options.visibilityProperty);
    };
    expect(concealment(field)).toBe('not_rendered');
    expect(asked).toHaveLength(1);
  });

  it('refuses an element of a document that is not shown in any window', () => {
    const { doc } = laidOut();
    const parsed = new (doc.defaultView as Window & typeof globalThis).DOMParser().parseFromString(
      '<input id="c">',
      'text/html',
    );
    Object.defineProperty(parsed, 'defaultView', { value: null });
    expect(concealment(parsed.getElementById('c') as Element)).toBe('not_rendered');
  });
});

describe('ancestors that clip their overflow', () => {
  /** The field inside `.field`, which clips with `css` and shows `box` (border `border` px). */
  const clippedTo = (css: string, box: Box, border = 0) => {
    const { doc, field } = laidOut();
    const wrapper = doc.querySelector('.field') as HTMLElement;
    wrapper.setAttribute('style', css);
    clientBox(wrapper, box, border);
    return field;
  };
  const { left, top, width, height } = FIELD_BOX;

  it('shows a field wholly inside, give or take a pixel of rounding', () => {
    expect(
      concealment(
        clippedTo('overflow: hidden', { left: left + 1, top: top + 1, width: width - 2, height: height - 2 }),
      ),
    ).toBeNull();
  });

  it.each([
    ['its left edge', { left: left + 2, top, width, height }],
    ['its top edge', { left, top: top + 2, width, height }],
    ['its right edge', { left, top, width: width - 2, height }],
    ['its bottom edge', { left, top, width, height: height - 2 }],
  ])('refuses a field cut at %s', (_, box) => {
    expect(concealment(clippedTo('overflow: hidden', box))).toBe('clipped');
  });

  it.each([
    ['overflow-x', 'overflow-x: hidden'],
    ['overflow-y', 'overflow-y: scroll'],
    ['a two-value overflow', 'overflow: visible clip'],
  ])('clips by %s alone', (_, css) => {
    expect(concealment(clippedTo(css, { left, top, width: width - 50, height }))).toBe('clipped');
  });

  it("measures from inside the ancestor's border: a field under a thick border is cut", () => {
    // The border box holds the field, but its top 20 px are border, painted over what overflows.
    const border = 20;
    expect(
      concealment(
        clippedTo('overflow: hidden', { left: left - 10, top: top + 10, width: width + 20, height }, border),
      ),
    ).toBe('clipped');
    expect(
      concealment(
        clippedTo(
          'overflow: hidden',
          { left: left - 20, top: top - 20, width: width + 40, height: height + 40 },
          border,
        ),
      ),
    ).toBeNull();
  });

  it("ignores the root's and the body's overflow: they clip the window, which the off-screen check covers", () => {
    const { doc, field } = laidOut();
    for (const element of [doc.documentElement, doc.body]) {
      element.setAttribute('style', 'overflow: hidden');
      // A body whose content is all positioned: its own box is empty, yet the page shows.
      clientBox(element, { left: 0, top: 0, width: VIEWPORT.width, height: 0 });
    }
    expect(concealment(field)).toBeNull();
  });
});

describe('elements over the field', () => {
  const { left, top, width, height } = FIELD_BOX;
  /** An opaque element over the field's `part`. */
  const coveredBy = (part: Box) =>
    concealment(laidOut((doc) => [[added(doc, 'background: white'), part]]).field);

  it.each([
    ['its left end', { left, top, width: width * 0.15, height }],
    ['its middle', { left: left + width * 0.45, top, width: width * 0.1, height }],
    ['its top strip', { left, top, width, height: height * 0.15 }],
    ['its vertical middle', { left, top: top + height * 0.45, width, height: height * 0.1 }],
    ['its bottom strip', { left, top: top + height * 0.85, width, height: height * 0.15 }],
  ])('refuses a field covered over %s', (_, part) => {
    expect(coveredBy(part)).toBe('covered');
  });

  it('lets an element painted under the field be (a panel behind it, not its ancestor)', () => {
    const { doc, field } = laidOut((d) => [
      [added(d, 'background: white'), { left: 0, top: 200, width: 900, height: 300 }],
    ]);
    const hits = doc.elementsFromPoint.bind(doc);
    // The panel comes earlier in the painting order: the field is on top of it at every point.
    Object.assign(doc, {
      elementsFromPoint: (x: number, y: number) => {
        const below = hits(x, y).filter((element) => element !== field);
        return below.length < hits(x, y).length ? [field, ...below] : below;
      },
    });
    expect(concealment(field)).toBeNull();
  });

  it('refuses a field no hit test reaches (the point belongs to another frame)', () => {
    const { doc, field } = laidOut();
    Object.assign(doc, { elementsFromPoint: () => [] });
    expect(concealment(field)).toBe('covered');
  });

  it('shows a button whose own label is what the hit test finds first', () => {
    const { doc } = laidOut();
    const button = doc.querySelector('button[type=submit]') as HTMLButtonElement;
    button.innerHTML = '<span>Verify</span>';
    const label = button.firstElementChild as Element;
    button.getBoundingClientRect = () => rectOf({ left: 100, top: 360, width: 120, height: 36 });
    Object.assign(doc, { elementsFromPoint: () => [label, button] });
    expect(concealment(button)).toBeNull();
    Object.assign(doc, { elementsFromPoint: () => [doc.body, button] });
    expect(concealment(button)).toBe('covered');
  });

  it('lets clicks-through elements be that are its ancestors, its children, or have no box', () => {
    const { doc } = laidOut((d) => [
      // Nothing painted: a zero-width or zero-height marker over the field.
      [added(d, 'pointer-events: none'), { left: left + 50, top: top - 2, width: 0, height: 40 }],
      [added(d, 'pointer-events: none'), { left: left - 2, top: top + 10, width: 400, height: 0 }],
    ]);
    doc.querySelector('main')?.setAttribute('style', 'pointer-events: none');
    const button = doc.querySelector('button[type=submit]') as HTMLButtonElement;
    button.innerHTML = '<span style="pointer-events: none">✓</span>';
    const icon = button.firstElementChild as Element;
    const buttonBox = { left: 100, top: 360, width: 120, height: 36 };
    button.getBoundingClientRect = () => rectOf(buttonBox);
    icon.getBoundingClientRect = () => rectOf({ left: 104, top: 364, width: 16, height: 16 });
    const field = doc.getElementById('backup_code') as Element;
    expect(concealment(field)).toBeNull();
    Object.assign(doc, { elementsFromPoint: () => [button] });
    expect(concealment(button)).toBeNull();
  });

  it.each([
    ['left', { left: left - 50, top, width: 50, height }],
    ['right', { left: left + width, top, width: 50, height }],
    ['top', { left, top: top - 30, width, height: 30 }],
    ['bottom', { left, top: top + height, width, height: 30 }],
  ])(
    'lets a clicks-through element touching its %s edge be, and refuses one a pixel over it',
    (side, box) => {
      const overlay = (b: Box) =>
        concealment(laidOut((doc) => [[added(doc, 'pointer-events: none; background: gold'), b]]).field);
      expect(overlay(box)).toBeNull();
      const into = {
        left: { ...box, left: box.left + 1 },
        right: { ...box, left: box.left - 1 },
        top: { ...box, top: box.top + 1 },
        bottom: { ...box, top: box.top - 1 },
      }[side] as Box;
      expect(overlay(into)).toBe('covered');
    },
  );
});

describe('a field in a shadow tree', () => {
  it('sees through the shadow root to its host: a faded host hides the field', () => {
    const { doc } = laidOut();
    const host = doc.createElement('div');
    host.setAttribute('style', 'opacity: 0');
    doc.querySelector('.field')?.append(host);
    const inner = host.attachShadow({ mode: 'open' });
    inner.innerHTML = '<input>';
    expect(concealment(inner.querySelector('input') as Element)).toBe('transparent');
  });

  it('follows a slotted field to the slot it is shown in: a faded wrapper around the slot hides it', () => {
    const { field } = laidOut();
    const wrapper = field.parentElement as HTMLElement;
    const inner = wrapper.attachShadow({ mode: 'open' });
    inner.innerHTML = '<div style="opacity: 0"><slot></slot></div>';
    // happy-dom does not assign slots; a browser sets assignedSlot on a slotted element.
    Object.defineProperty(field, 'assignedSlot', { value: inner.querySelector('slot'), configurable: true });
    expect(concealment(field)).toBe('transparent');
  });
});

describe("the browser's own occlusion test (Chromium's IntersectionObserver v2)", () => {
  /** A stand-in for Chromium's observer, holding to its rules: trackVisibility needs a delay of at least 100 ms. */
  function withObserver(doc: Document) {
    const made: {
      observed: Set<Element>;
      report(target: Element, isVisible: boolean): void;
      disconnected: boolean;
    }[] = [];
    class Entry {}
    Object.defineProperty(Entry.prototype, 'isVisible', { get: () => false });
    class Observer {
      observed = new Set<Element>();
      disconnected = false;
      constructor(
        callback: (entries: { target: Element; isVisible: boolean }[]) => void,
        options: { trackVisibility?: boolean; delay?: number },
      ) {
        if (options.trackVisibility && (options.delay ?? 0) < 100)
          throw new Error('NotAllowedError: delay < 100');
        const self = {
          observed: this.observed,
          get disconnected() {
            return observer.disconnected;
          },
          // Without trackVisibility, Chromium's entries always say isVisible: false.
          report: (target: Element, isVisible: boolean) =>
            callback([{ target, isVisible: options.trackVisibility === true && isVisible }]),
        };
        const observer = this;
        made.push(self);
      }
      observe(element: Element) {
        this.observed.add(element);
      }
      unobserve(element: Element) {
        this.observed.delete(element);
      }
      disconnect() {
        this.disconnected = true;
      }
    }
    Object.assign(doc.defaultView as object, {
      IntersectionObserver: Observer,
      IntersectionObserverEntry: Entry,
    });
    return made;
  }

  /** The laid-out field, watched through the stand-in observer. */
  function watched() {
    const { doc, field } = laidOut();
    const made = withObserver(doc);
    const watch = watchVisibility(doc);
    watch.observe(field);
    return { field, made, watch };
  }

  it('counts a field the browser has not reported on yet as covered, then follows what it reports', () => {
    const { field, made, watch } = watched();
    const observer = made[0];
    expect(observer?.observed.has(field)).toBe(true);
    expect(watch.concealment(field)).toBe('covered');
    observer?.report(field, true);
    expect(watch.concealment(field)).toBeNull();
    // Something painted over it that the DOM checks cannot see (a pseudo-element, a closed shadow root).
    observer?.report(field, false);
    expect(watch.concealment(field)).toBe('covered');
  });

  it('still runs the DOM checks first: a faded field is transparent whatever the browser said', () => {
    const { field, made, watch } = watched();
    made[0]?.report(field, true);
    field.setAttribute('style', 'opacity: 0');
    expect(watch.concealment(field)).toBe('transparent');
  });

  it('forgets what it saw of an element it stops watching, and lets go of the observer when stopped', () => {
    const { field, made, watch } = watched();
    made[0]?.report(field, true);
    watch.unobserve(field);
    expect(made[0]?.observed.has(field)).toBe(false);
    // Watched again later (a new button): the old answer does not carry over.
    watch.observe(field);
    expect(watch.concealment(field)).toBe('covered');
    watch.stop();
    expect(made[0]?.disconnected).toBe(true);
  });

  it('a document shown in no window gets no observer, and its elements count as not rendered', () => {
    const { doc } = laidOut();
    const parsed = new (doc.defaultView as Window & typeof globalThis).DOMParser().parseFromString(
      '<input id="c">',
      'text/html',
    );
    Object.defineProperty(parsed, 'defaultView', { value: null });
    const watch = watchVisibility(parsed);
    const input = parsed.getElementById('c') as Element;
    watch.observe(input);
    expect(watch.concealment(input)).toBe('not_rendered');
  });

  it('relies on the DOM checks alone where the browser has no occlusion test', () => {
    const { doc, field } = laidOut();
    const watch = watchVisibility(doc);
    watch.observe(field);
    expect(watch.concealment(field)).toBeNull();
    watch.unobserve(field);
    watch.stop();
    expect(watch.concealment(field)).toBeNull();
  });
});
