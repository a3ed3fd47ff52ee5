/**
 * The "Fill backup code #N" button next to the field. It lives in a closed shadow root under a host
 * whose inline styles are !important: page CSS cannot hide, restyle or overlay-click it, and page
 * scripts cannot reach the button (a closed root is not exposed through host.shadowRoot).
 */

export type ButtonLook = 'ready' | 'busy' | 'done' | 'problem';

export interface FillButton {
  readonly host: HTMLElement;
  /** The real button, for the content script and its tests; never handed to the page. */
  readonly button: HTMLButtonElement;
  show(label: string, look: ButtonLook, enabled: boolean): void;
  remove(): void;
}

export interface FillButtonOptions {
  /** Whether a click came from the user; page-made (synthetic) clicks are ignored. */
  isUserClick?: (event: MouseEvent) => boolean;
}

const HOST_TAG = 'sparekey-autofill';

/** Set through CSSOM with !important: an author stylesheet cannot override it, and CSP never blocks CSSOM. */
const HOST_STYLE: [string, string][] = [
  ['all', 'initial'],
  ['display', 'inline-block'],
  ['position', 'static'],
  ['visibility', 'visible'],
  ['opacity', '1'],
  ['margin', '0.25em 0 0 0.5em'],
  ['vertical-align', 'middle'],
  ['z-index', '2147483647'],
];

const SHADOW_CSS = `
  button {
    font: 500 13px/1.2 system-ui, sans-serif;
    padding: 6px 10px;
    border-radius: 6px;
    border: 1px solid #1d4ed8;
    background: #2563eb;
    color: #fff;
    cursor: pointer;
  }
  button:focus-visible { outline: 3px solid #93c5fd; outline-offset: 2px; }
  button:disabled { cursor: default; }
  button[data-look="busy"] { opacity: 0.7; }
  button[data-look="done"] { background: #15803d; border-color: #166534; }
  button[data-look="problem"] { background: #fff7ed; border-color: #c2410c; color: #7c2d12; }
  @media (prefers-color-scheme: dark) {
    button[data-look="problem"] { background: #431407; border-color: #fb923c; color: #ffedd5; }
  }
`;

/**
 * A constructed stylesheet, not a <style> element: a page whose CSP allows only its own stylesheets
 * (ours does) may block inline styles that a content script inserts, in some browsers.
 */
function styleShadow(root: ShadowRoot, doc: Document): void {
  try {
    const sheet = new (doc.defaultView ?? window).CSSStyleSheet();
    sheet.replaceSync(SHADOW_CSS);
    root.adoptedStyleSheets = [sheet];
  } catch {
    const style = doc.createElement('style');
    style.textContent = SHADOW_CSS;
    root.append(style);
  }
}

export function isHostElement(node: Node): boolean {
  return node.nodeName.toLowerCase() === HOST_TAG;
}

/** Places the button right after `anchor` (the field, or the last box of a split field). */
export function createFillButton(
  anchor: Element,
  onClick: () => void,
  { isUserClick = (event) => event.isTrusted }: FillButtonOptions = {},
): FillButton {
  const doc = anchor.ownerDocument;
  const host = doc.createElement(HOST_TAG);
  for (const [property, value] of HOST_STYLE) host.style.setProperty(property, value, 'important');
  const root = host.attachShadow({ mode: 'closed' });
  styleShadow(root, doc);
  const button = doc.createElement('button');
  button.type = 'button';
  // Its label changes after a click (filled, locked, none left): screen readers hear the outcome.
  button.setAttribute('aria-live', 'polite');
  // The page sees the code only when the user asks: a click the page synthesised gets nothing.
  button.addEventListener('click', (event) => {
    event.preventDefault();
    event.stopPropagation();
    if (isUserClick(event)) onClick();
  });
  root.append(button);
  anchor.after(host);

  return {
    host,
    button,
    show(label, look, enabled) {
      button.textContent = label;
      button.dataset.look = look;
      button.disabled = !enabled;
    },
    remove() {
      host.remove();
    },
  };
}
