/**
 * The content script's logic, apart from its browser wiring (../content/index.ts): watch for the
 * backup-code field, offer the button, and fill only when the user asks.
 */
import { createFillButton, type FillButton } from './button';
import { type CodeField, fieldInputs } from './detect';
import { fillCodeField } from './fill';
import {
  AUTOFILL_FILL,
  AUTOFILL_STATUS,
  type ContentRequest,
  type FillReply,
  type StatusReply,
  type TriggerReply,
} from './messages';
import { signingIn } from './page-user';
import { isMfaStep, serverBackupForm } from './server-step';
import type { Translate } from './text';
import { type VisibilityWatch, watchVisibility } from './visibility';
import { watchCodeField } from './watch';

export interface ContentDeps {
  /** The configured server URL: the script acts only on its MFA step. */
  serverUrl: string;
  /** browser.runtime.sendMessage to the background; undefined when it does not answer. */
  send(request: ContentRequest): Promise<unknown>;
  text: Translate;
  /** Defaults to event.isTrusted; tests stand in for a real user's click. */
  isUserClick?: (event: MouseEvent) => boolean;
  /** Defaults to the DOM checks and, in Chromium, IntersectionObserver v2 (./visibility.ts). */
  visibility?: VisibilityWatch;
}

export interface ContentAutofill {
  /** A fill the user asked for outside the page (keyboard shortcut, popup). */
  trigger(): Promise<TriggerReply>;
  /** Asks the background again (the user may have unlocked or kept codes meanwhile). */
  refresh(): Promise<void>;
  stop(): void;
}

function asStatus(reply: unknown): StatusReply {
  const r = reply as Partial<{ state: string; next: unknown; owner: unknown }> | undefined;
  if ((r?.state === 'ready' || r?.state === 'locked') && typeof r.next === 'number') {
    return { state: r.state, next: r.next };
  }
  if (r?.state === 'other_user' && typeof r.owner === 'string')
    return { state: 'other_user', owner: r.owner };
  return r?.state === 'none_left' ? { state: 'none_left' } : { state: 'off' };
}

function asFill(reply: unknown): FillReply {
  const r = reply as
    | Partial<{ ok: boolean; number: unknown; code: unknown; reason: unknown; owner: unknown }>
    | undefined;
  if (r?.ok === true && typeof r.number === 'number' && typeof r.code === 'string') {
    return { ok: true, number: r.number, code: r.code };
  }
  if (r?.reason === 'other_user' && typeof r.owner === 'string') {
    return { ok: false, reason: 'other_user', owner: r.owner };
  }
  return { ok: false, reason: r?.reason === 'locked' || r?.reason === 'none_left' ? r.reason : 'off' };
}

/** The request about `field`, naming the user the page says is signing in, when it says. */
function requestFor(type: ContentRequest['type'], field: CodeField): ContentRequest {
  return { type, ...signingIn(field) };
}

const INERT: ContentAutofill = {
  trigger: async () => ({ filled: false, reason: 'no_field' }),
  refresh: async () => undefined,
  stop: () => undefined,
};

export function startAutofill(doc: Document, deps: ContentDeps): ContentAutofill {
  // Another page of the server's origin (a wiki, an upload) gets no button and never asks for a code.
  if (!isMfaStep(doc.URL, deps.serverUrl)) return INERT;
  const visibility = deps.visibility ?? watchVisibility(doc);
  let field: CodeField | null = null;
  let button: FillButton | null = null;
  let busy = false;

  /** The field is the server's: on its MFA step still (history.pushState can move), in the form it renders. */
  const isServersField = (candidate: CodeField) => {
    const form = isMfaStep(doc.URL, deps.serverUrl) ? serverBackupForm(doc) : null;
    return form !== null && fieldInputs(candidate).every((input) => form.contains(input));
  };

  /** The field, and the button when it was clicked, must be plainly visible: else a lure got the click. */
  const hidden = (target: CodeField, clicked: boolean) => {
    const shown = clicked && button ? [...fieldInputs(target), button.host] : fieldInputs(target);
    return shown.some((element) => visibility.concealment(element) !== null);
  };

  const drop = () => {
    if (button) visibility.unobserve(button.host);
    button?.remove();
    button = null;
  };

  /** Whose codes are kept, and who signs in on the page (as asked about): said, never filled. */
  const otherUser = (owner: string, asked: ContentRequest) =>
    deps.text('autofillOtherUser', owner, asked.username ?? '');

  const showStatus = (status: StatusReply, asked: ContentRequest) => {
    if (!field || status.state === 'off') return drop();
    const inputs = fieldInputs(field);
    if (!button) {
      button = createFillButton(inputs[inputs.length - 1] as HTMLInputElement, () => void fill(true), {
        isUserClick: deps.isUserClick,
      });
      visibility.observe(button.host);
    }
    if (status.state === 'none_left') button.show(deps.text('autofillNoneLeft'), 'problem', false);
    else if (status.state === 'other_user') button.show(otherUser(status.owner, asked), 'problem', false);
    else button.show(deps.text('autofillFill', status.next), 'ready', true);
  };

  const refresh = async () => {
    if (!field || busy) return;
    const asked = field;
    const request = requestFor(AUTOFILL_STATUS, asked);
    const status = asStatus(await deps.send(request).catch(() => undefined));
    // The page may have switched forms while the background answered.
    if (field === asked && !busy) showStatus(status, request);
  };

  /** `clicked`: by the inline button (its visibility counts too), not the shortcut or the popup. */
  async function fill(clicked: boolean): Promise<TriggerReply> {
    if (busy) return { filled: false, reason: 'busy' };
    const target = field;
    if (!target || !isServersField(target)) return { filled: false, reason: 'no_field' };
    if (hidden(target, clicked)) {
      // Checked before asking: a code the page cannot be shown is never handed out.
      button?.show(deps.text('autofillHidden'), 'problem', true);
      return { filled: false, reason: 'hidden' };
    }
    busy = true;
    button?.show(deps.text('autofillFilling'), 'busy', false);
    try {
      const request = requestFor(AUTOFILL_FILL, target);
      const reply = asFill(await deps.send(request).catch(() => undefined));
      if (!reply.ok) {
        if (reply.reason === 'other_user') {
          button?.show(otherUser(reply.owner, request), 'problem', false);
          return { filled: false, reason: 'other_user', owner: reply.owner, user: request.username ?? '' };
        }
        if (reply.reason === 'off') drop();
        else if (reply.reason === 'locked') button?.show(deps.text('autofillLocked'), 'problem', true);
        else button?.show(deps.text('autofillNoneLeft'), 'problem', false);
        return { filled: false, reason: reply.reason };
      }
      // Again at the moment of the fill: the page had the time of a message to change. The code is dropped.
      if (!isServersField(target)) return { filled: false, reason: 'no_field' };
      if (hidden(target, clicked)) {
        button?.show(deps.text('autofillHidden'), 'problem', true);
        return { filled: false, reason: 'hidden' };
      }
      if (!fillCodeField(target, reply.code)) {
        button?.show(deps.text('autofillFailed'), 'problem', true);
        return { filled: false, reason: 'rejected' };
      }
      button?.show(deps.text('autofillFilled', reply.number), 'done', true);
      return { filled: true, number: reply.number };
    } finally {
      busy = false;
    }
  }

  const stopWatching = watchCodeField(doc, (found) => {
    drop();
    for (const input of field ? fieldInputs(field) : []) visibility.unobserve(input);
    // A look-alike form elsewhere on the page is not the server's: no button, no code.
    field = found && isServersField(found) ? found : null;
    for (const input of field ? fieldInputs(field) : []) visibility.observe(input);
    void refresh();
  });

  // Back from the toolbar popup (after an unlock, say): the button tells the truth again.
  const onFocus = () => void refresh();
  doc.defaultView?.addEventListener('focus', onFocus);

  return {
    trigger: () => fill(false),
    refresh,
    stop() {
      stopWatching();
      visibility.stop();
      doc.defaultView?.removeEventListener('focus', onFocus);
      drop();
    },
  };
}
