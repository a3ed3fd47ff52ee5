/**
 * Whether the user really sees an element: the field a code goes into and the button they click. A
 * script on the server's origin can open the real MFA step (window.open, same origin) and restyle it, so
 * that a click on a lure fills a code the script then reads. Checked synchronously right before a code
 * is asked for and again right before it is typed in: no page script runs between a check and its use.
 *
 * The server's own page uses none of the effects refused here, so the rules can be strict.
 */

export type Concealment =
  /** display, visibility, content-visibility, or not in the document. */
  | 'not_rendered'
  /** The opacities of the element and its ancestors, multiplied, fall below MIN_OPACITY. */
  | 'transparent'
  /** A filter, mask, blend mode, or a transform other than a move, on it or an ancestor. */
  | 'effects'
  | 'too_small'
  /** Not wholly inside the window. */
  | 'off_screen'
  /** clip, clip-path, or outside an ancestor whose overflow clips. */
  | 'clipped'
  /** Another element over one of its sample points, including one that lets clicks through. */
  | 'covered';

/** Below this, a field or button is too faint to tell what is being clicked. */
const MIN_OPACITY = 0.9;
/** A field or button smaller than this is not something a user reads. */
const MIN_WIDTH = 16;
const MIN_HEIGHT = 10;
/** Layout rounds to fractions of a pixel. */
const SLACK = 1;

type View = Window & typeof globalThis;

/** The element's parent in the rendered tree, as far as a content script can see it. */
function renderedParent(node: Element): Element | null {
  if (node.assignedSlot) return node.assignedSlot;
  if (node.parentElement) return node.parentElement;
  const root = node.getRootNode() as Partial<ShadowRoot>;
  return root.host ?? null;
}

function ancestorsOf(element: Element): Element[] {
  const chain: Element[] = [];
  for (let node = renderedParent(element); node; node = renderedParent(node)) chain.push(node);
  return chain;
}

const isSet = (value: string | undefined) => Boolean(value) && value !== 'none';

/** A transform that only moves the box keeps what the user sees; a scale, skew or 3D turn may hide it. */
function onlyMoves(transform: string): boolean {
  if (!isSet(transform)) return true;
  const matrix = /^matrix\(([^)]*)\)$/.exec(transform);
  const [a, b, c, d] = (matrix?.[1] ?? '').split(',').map(Number);
  return a === 1 && b === 0 && c === 0 && d === 1;
}

function styleConcealment(element: Element, view: View): Concealment | null {
  if (!element.isConnected) return 'not_rendered';
  // Chromium and Firefox also know content-visibility and closed <details>, which styles alone miss.
  if (
    typeof element.checkVisibility === 'function' &&
    !element.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true })
  ) {
    return 'not_rendered';
  }
  const { visibility } = view.getComputedStyle(element);
  if (visibility === 'hidden' || visibility === 'collapse') return 'not_rendered';
  let opacity = 1;
  for (const node of [element, ...ancestorsOf(element)]) {
    const style = view.getComputedStyle(node);
    if (style.display === 'none' || style.getPropertyValue('content-visibility') === 'hidden') {
      return 'not_rendered';
    }
    const own = Number.parseFloat(style.opacity);
    opacity *= Number.isNaN(own) ? 1 : own;
    if (opacity < MIN_OPACITY) return 'transparent';
    if (
      isSet(style.filter) ||
      isSet(style.getPropertyValue('mask-image')) ||
      isSet(style.getPropertyValue('-webkit-mask-image')) ||
      (Boolean(style.mixBlendMode) && style.mixBlendMode !== 'normal') ||
      !onlyMoves(style.transform)
    ) {
      return 'effects';
    }
    if (isSet(style.clipPath) || (Boolean(style.clip) && style.clip !== 'auto')) return 'clipped';
  }
  return null;
}

/** Whether the box cuts off what overflows it (hidden, clip, scroll, auto), in either direction. */
const clipsOverflow = (style: CSSStyleDeclaration) =>
  // Stryker disable next-line Regex: splitting at each space only adds empty values, which clip nothing
  [style.overflowX, style.overflowY, ...style.overflow.split(/\s+/)].some(
    (value) => Boolean(value) && value !== 'visible',
  );

/** Whether `rect` lies wholly inside the padding box of every ancestor that clips its overflow. */
function clippedByAncestor(element: Element, rect: DOMRect, view: View): boolean {
  const doc = element.ownerDocument;
  for (const node of ancestorsOf(element)) {
    // The root's and the body's overflow apply to the window, which the off-screen check covers.
    if (node === doc.documentElement || node === doc.body) continue;
    const style = view.getComputedStyle(node);
    if (!clipsOverflow(style)) continue;
    const box = node.getBoundingClientRect();
    const left = box.left + node.clientLeft;
    const top = box.top + node.clientTop;
    if (
      rect.left < left - SLACK ||
      rect.top < top - SLACK ||
      rect.right > left + node.clientWidth + SLACK ||
      rect.bottom > top + node.clientHeight + SLACK
    ) {
      return true;
    }
  }
  return false;
}

/** A 3×3 grid from edge to edge: an element over any part of the box (not only its centre) counts. */
function samplePoints(rect: DOMRect): [number, number][] {
  const at = [0.1, 0.5, 0.9];
  return at.flatMap((fx) =>
    at.map((fy): [number, number] => [rect.left + rect.width * fx, rect.top + rect.height * fy]),
  );
}

const overlaps = (a: DOMRect, b: DOMRect) =>
  a.width > 0 && a.height > 0 && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

/**
 * Hit testing (elementsFromPoint) skips elements with pointer-events: none, so an opaque overlay
 * that lets the click through to our button is invisible to it. Any such element over the box counts as
 * covering: stacking order is not worked out, and the server's page has none.
 */
function passThroughCover(element: Element, rect: DOMRect, view: View): boolean {
  for (const other of element.ownerDocument.querySelectorAll('*')) {
    if (other === element || other.contains(element) || element.contains(other)) continue;
    if (view.getComputedStyle(other).pointerEvents !== 'none') continue;
    if (overlaps(other.getBoundingClientRect(), rect)) return true;
  }
  return false;
}

/** Why the user cannot plainly see `element` right now, or null when they can. */
export function concealment(element: Element): Concealment | null {
  const doc = element.ownerDocument;
  const view = doc.defaultView as View | null;
  if (!view) return 'not_rendered';
  const styled = styleConcealment(element, view);
  if (styled) return styled;
  const rect = element.getBoundingClientRect();
  if (rect.width < MIN_WIDTH || rect.height < MIN_HEIGHT) return 'too_small';
  if (
    rect.left < -SLACK ||
    rect.top < -SLACK ||
    rect.right > view.innerWidth + SLACK ||
    rect.bottom > view.innerHeight + SLACK
  ) {
    return 'off_screen';
  }
  if (clippedByAncestor(element, rect, view)) return 'clipped';
  for (const [x, y] of samplePoints(rect)) {
    // Our button's box answers with its host: the closed shadow root is retargeted.
    const top = doc.elementsFromPoint(x, y)[0];
    if (!top || (top !== element && !element.contains(top))) return 'covered';
  }
  if (passThroughCover(element, rect, view)) return 'covered';
  return null;
}

export interface VisibilityWatch {
  observe(element: Element): void;
  unobserve(element: Element): void;
  /** `concealment`, and in Chromium also what the browser itself last saw of the element. */
  concealment(element: Element): Concealment | null;
  stop(): void;
}

/** IntersectionObserver v2 (Chromium): the entry says whether anything paints over the target or fades it. */
function supportsTrackVisibility(view: View | null): view is View {
  return Boolean(view?.IntersectionObserverEntry && 'isVisible' in view.IntersectionObserverEntry.prototype);
}

/**
 * Where the browser offers it (Chromium's IntersectionObserver v2, `trackVisibility`), the rendering
 * engine's own occlusion test backs the checks above: it sees overlays in shadow roots and
 * pseudo-elements, and any opacity, filter or transform on the way. Its answer may be up to `delay`
 * old, so the synchronous checks still run; an element it has not yet reported on counts as covered.
 */
export function watchVisibility(doc: Document): VisibilityWatch {
  const view = doc.defaultView as View | null;
  const seen = new WeakMap<Element, boolean>();
  const observer = supportsTrackVisibility(view)
    ? new view.IntersectionObserver(
        (entries) => {
          for (const entry of entries) {
            seen.set(entry.target, (entry as IntersectionObserverEntry & { isVisible: boolean }).isVisible);
          }
        },
        // 100 ms is the shortest delay the browser allows with trackVisibility.
        { threshold: [0], trackVisibility: true, delay: 100 } as IntersectionObserverInit,
      )
    : null;
  return {
    observe(element) {
      observer?.observe(element);
    },
    unobserve(element) {
      observer?.unobserve(element);
      seen.delete(element);
    },
    concealment(element) {
      const found = concealment(element);
      if (found || !observer) return found;
      return seen.get(element) === true ? null : 'covered';
    },
    stop() {
      observer?.disconnect();
    },
  };
}
