// @vitest-environment happy-dom
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Window } from 'happy-dom';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ContentAutofill, startAutofill } from '../../extension/src/autofill/content';
import {
  AUTOFILL_FILL,
  AUTOFILL_STATUS,
  type ContentRequest,
  type FillReply,
  type StatusReply,
} from '../../extension/src/autofill/messages';
import { AUTOFILL_TEXT, translator } from '../../extension/src/autofill/text';
import type { Concealment, VisibilityWatch } from '../../extension/src/autofill/visibility';

const CODE = '7K3QX-M2D9P';
const windows: Window[] = [];
const running: ContentAutofill[] = [];

interface Page {
  doc: Document;
  /** Shadow roots the content script attached; a real page cannot see these (closed, other world). */
  roots: ShadowRoot[];
}

const SERVER_URL = 'https://sparekey.example';

function openFixture(name: string, url = `${SERVER_URL}/login/mfa?method=backup_code`): Page {
  const win = new Window({
    url,
    settings: { enableJavaScriptEvaluation: true, suppressInsecureJavaScriptEnvironmentWarning: true },
  });
  windows.push(win);
  const roots: ShadowRoot[] = [];
  const attach = win.Element.prototype.attachShadow;
  win.Element.prototype.attachShadow = function (this: never, init: never) {
    const root = attach.call(this, init);
    roots.push(root as unknown as ShadowRoot);
    return root;
  };
  win.document.write(readFileSync(resolve(import.meta.dirname, '../fixtures/autofill', name), 'utf8'));
  return { doc: win.document as unknown as Document, roots };
}

/** A stand-in background: answers status and fill requests and records what it was asked. */
function background(status: StatusReply | undefined, fill: FillReply | undefined = undefined) {
  const asked: string[] = [];
  const send = vi.fn(async (request: ContentRequest) => {
    asked.push(request.type);
    return request.type === AUTOFILL_STATUS ? status : fill;
  });
  return { send, asked };
}

/**
 * What the visibility checks say about each element: happy-dom lays nothing out, so the checks
 * themselves are tested on their own (autofill-visibility.test.ts) and stood in for here.
 */
let concealed: (element: Element) => Concealment | null;
const watched = new Set<Element>();
const visibility: VisibilityWatch = {
  observe: (element) => watched.add(element),
  unobserve: (element) => watched.delete(element),
  concealment: (element) => concealed(element),
  stop: () => watched.clear(),
};

function start(
  doc: Document,
  send: (r: ContentRequest) => Promise<unknown>,
  userClicks = true,
  serverUrl = SERVER_URL,
) {
  const autofill = startAutofill(doc, {
    serverUrl,
    send,
    text: translator(() => ''),
    visibility,
    ...(userClicks ? { isUserClick: () => true } : {}),
  });
  running.push(autofill);
  return autofill;
}

const buttonOf = (page: Page) => page.roots.at(-1)?.querySelector('button') ?? null;
const hostOf = (page: Page) => page.doc.querySelector('sparekey-autofill');
const input = (page: Page) => page.doc.getElementById('backup_code') as HTMLInputElement;

beforeEach(() => {
  concealed = () => null;
});

afterEach(async () => {
  for (const autofill of running.splice(0)) autofill.stop();
  await Promise.all(windows.splice(0).map((win) => win.happyDOM.close()));
});

describe('the fill button', () => {
  it('offers the next number next to the field, and fills nothing on load', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 3 });
    start(page.doc, send);

    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Fill backup code #3'));
    expect(asked).toEqual([AUTOFILL_STATUS]);
    expect(input(page).value).toBe('');
    expect(input(page).nextElementSibling).toBe(hostOf(page));
    expect((hostOf(page) as HTMLElement).shadowRoot).toBeNull();
  });

  it('asks for one code only when clicked, and fills it', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 3 }, { ok: true, number: 3, code: CODE });
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());

    buttonOf(page)?.click();
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Filled backup code #3'));
    expect(input(page).value).toBe(CODE);
    expect(asked).toEqual([AUTOFILL_STATUS, AUTOFILL_FILL]);
  });

  it('ignores a click the page made up', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    start(page.doc, send, false);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());

    const view = page.doc.defaultView as unknown as typeof globalThis;
    buttonOf(page)?.dispatchEvent(new view.MouseEvent('click', { bubbles: true }) as unknown as Event);
    await new Promise((r) => setTimeout(r, 20));
    expect(asked).toEqual([AUTOFILL_STATUS]);
    expect(input(page).value).toBe('');
  });

  it('hands one click one code, however fast the user clicks', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());

    buttonOf(page)?.click();
    expect(await autofill.trigger()).toEqual({ filled: false, reason: 'busy' });
    await vi.waitFor(() => expect(input(page).value).toBe(CODE));
    expect(asked.filter((t) => t === AUTOFILL_FILL)).toHaveLength(1);
  });

  it('shows nothing when the background has nothing for this page or does not answer', async () => {
    for (const status of [{ state: 'off' } as const, undefined]) {
      const page = openFixture('login-mfa.html');
      const { send, asked } = background(status);
      start(page.doc, send);
      await vi.waitFor(() => expect(asked).toEqual([AUTOFILL_STATUS]));
      await new Promise((r) => setTimeout(r, 20));
      expect(hostOf(page)).toBeNull();
    }
  });

  it('says when no kept code is left, and offers no fill', async () => {
    const page = openFixture('login-mfa.html');
    const { send } = background({ state: 'none_left' });
    start(page.doc, send);
    await vi.waitFor(() =>
      expect(buttonOf(page)?.textContent).toBe('No kept backup codes left: generate a new set in SpareKey'),
    );
    expect(buttonOf(page)?.disabled).toBe(true);
  });

  it('asks the user to unlock when the codes are locked, then fills on the next click', async () => {
    const page = openFixture('login-mfa.html');
    let reply: FillReply = { ok: false, reason: 'locked' };
    const send = vi.fn(async (request: ContentRequest) =>
      request.type === AUTOFILL_STATUS ? { state: 'locked', next: 1 } : reply,
    );
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Fill backup code #1'));

    buttonOf(page)?.click();
    await vi.waitFor(() =>
      expect(buttonOf(page)?.textContent).toBe('Unlock SpareKey from the toolbar, then click again'),
    );
    expect(input(page).value).toBe('');

    reply = { ok: true, number: 1, code: CODE };
    buttonOf(page)?.click();
    await vi.waitFor(() => expect(input(page).value).toBe(CODE));
  });

  it('says so when the page refuses the value', async () => {
    const page = openFixture('login-mfa.html');
    input(page).addEventListener('input', () => {
      input(page).value = '';
    });
    const { send } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    buttonOf(page)?.click();
    await vi.waitFor(() =>
      expect(buttonOf(page)?.textContent).toBe('This field did not take the code: paste it instead'),
    );
  });

  it('stays visible when page CSS tries to hide it', async () => {
    const page = openFixture('login-mfa.html');
    const style = page.doc.createElement('style');
    style.textContent =
      'sparekey-autofill, #backup_code + * { display: none !important; visibility: hidden !important; }';
    page.doc.head.append(style);
    start(page.doc, background({ state: 'ready', next: 1 }).send);
    await vi.waitFor(() => expect(hostOf(page)).not.toBeNull());
    const computed = page.doc.defaultView?.getComputedStyle(hostOf(page) as Element);
    expect(computed?.display).toBe('inline-block');
    expect(computed?.visibility).toBe('visible');
  });
});

describe('who is signing in', () => {
  /** The fixture's user id for alice (data-user-id on the server's backup-code form). */
  const ALICE_ID = '6f1c2c8e-0000-4000-8000-000000000001';
  /** A background keeping alice's codes, answering as the real one does for the username it is told. */
  function aliceBackground() {
    const requests: ContentRequest[] = [];
    const send = vi.fn(async (request: ContentRequest) => {
      requests.push(request);
      const theirs = request.username === undefined || request.username.toLowerCase() === 'alice';
      if (request.type === AUTOFILL_STATUS) {
        return theirs ? { state: 'ready', next: 1 } : { state: 'other_user', owner: 'alice' };
      }
      return theirs
        ? { ok: true, number: 1, code: CODE }
        : { ok: false, reason: 'other_user', owner: 'alice' };
    });
    return { send, requests };
  }

  const signingInAs = (page: Page, username: string) => {
    (page.doc.querySelector('form') as HTMLFormElement).dataset.username = username;
  };

  it('names the user the page signs in with every request', async () => {
    const page = openFixture('login-mfa.html');
    const { send, requests } = aliceBackground();
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    buttonOf(page)?.click();
    await vi.waitFor(() => expect(input(page).value).toBe(CODE));
    expect(requests).toEqual([
      { type: AUTOFILL_STATUS, username: 'alice', userId: ALICE_ID },
      { type: AUTOFILL_FILL, username: 'alice', userId: ALICE_ID },
    ]);
  });

  it('offers no fill where someone else signs in, and says whose codes are kept', async () => {
    const page = openFixture('login-mfa.html');
    signingInAs(page, 'bob');
    (page.doc.querySelector('form') as HTMLFormElement).dataset.userId = 'bob-id';
    const { send, requests } = aliceBackground();
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Kept codes belong to alice, not bob'));
    expect(buttonOf(page)?.disabled).toBe(true);
    expect(requests).toEqual([{ type: AUTOFILL_STATUS, username: 'bob', userId: 'bob-id' }]);
    expect(input(page).value).toBe('');
  });

  it('fills nothing when the background refuses at the fill, from the shortcut or the popup', async () => {
    const page = openFixture('login-mfa.html');
    const { send } = aliceBackground();
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Fill backup code #1'));
    // The page now signs someone else in, without a new field.
    signingInAs(page, 'Bob');

    expect(await autofill.trigger()).toEqual({
      filled: false,
      reason: 'other_user',
      owner: 'alice',
      user: 'Bob',
    });
    expect(input(page).value).toBe('');
    expect(buttonOf(page)?.textContent).toBe('Kept codes belong to alice, not Bob');
    expect(buttonOf(page)?.disabled).toBe(true);
  });

  it('fills when the page names the owner in another case', async () => {
    const page = openFixture('login-mfa.html');
    signingInAs(page, 'ALICE');
    const { send } = aliceBackground();
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Fill backup code #1'));
    expect(await autofill.trigger()).toEqual({ filled: true, number: 1 });
    expect(input(page).value).toBe(CODE);
  });

  it('asks as before when the page does not say who signs in', async () => {
    const page = openFixture('login-mfa.html');
    page.doc.querySelector('form')?.removeAttribute('data-username');
    page.doc.querySelector('form')?.removeAttribute('data-user-id');
    const { send, requests } = aliceBackground();
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Fill backup code #1'));
    expect(requests).toEqual([{ type: AUTOFILL_STATUS }]);
  });

  it('sends the user id alone when the page gives no name, and trims what it says', async () => {
    const page = openFixture('login-mfa.html');
    const form = page.doc.querySelector('form') as HTMLFormElement;
    form.removeAttribute('data-username');
    form.dataset.userId = '  u-7  ';
    const { send, requests } = aliceBackground();
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Fill backup code #1'));
    expect(requests).toEqual([{ type: AUTOFILL_STATUS, userId: 'u-7' }]);
  });
});

describe('other pages', () => {
  it('never talks to the background on a page without a backup-code field', async () => {
    for (const name of ['login-mfa-totp.html', 'decoy-zip.html', 'decoy-coupon.html', 'decoy-search.html']) {
      const page = openFixture(name);
      const { send } = background({ state: 'ready', next: 1 });
      start(page.doc, send);
      await new Promise((r) => setTimeout(r, 20));
      expect(send, name).not.toHaveBeenCalled();
      expect(hostOf(page), name).toBeNull();
    }
  });

  it("offers the button once the server's form appears", async () => {
    const page = openFixture('login-mfa.html');
    const form = page.doc.querySelector('form') as HTMLFormElement;
    form.remove();
    const { send, asked } = background({ state: 'ready', next: 2 });
    start(page.doc, send);
    await new Promise((r) => setTimeout(r, 80));
    expect(asked).toEqual([]);
    page.doc.querySelector('main')?.append(form);
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe('Fill backup code #2'));
  });
});

describe("only on the server's MFA step, in the form it renders", () => {
  /** Nothing asked, no button, and a fill from the toolbar finds no field. */
  async function expectNothing(
    page: Page,
    send: ReturnType<typeof background>['send'],
    autofill: ContentAutofill,
  ) {
    await new Promise((r) => setTimeout(r, 80));
    expect(await autofill.trigger()).toEqual({ filled: false, reason: 'no_field' });
    expect(send).not.toHaveBeenCalled();
    expect(hostOf(page)).toBeNull();
    expect(input(page).value).toBe('');
  }

  it.each([
    ['another path of the same origin', `${SERVER_URL}/wiki/lure`, SERVER_URL],
    ['a path that only starts like the step', `${SERVER_URL}/login/mfa-help`, SERVER_URL],
    ['the step outside the path of a server URL with a path', `${SERVER_URL}/login/mfa`, `${SERVER_URL}/sk`],
    ['another port of the host', 'https://sparekey.example:8443/login/mfa', SERVER_URL],
    ['plain http on the same host', 'http://sparekey.example/login/mfa', SERVER_URL],
  ])('a copy of the form on %s gets nothing', async (_, url, serverUrl) => {
    const page = openFixture('login-mfa.html', url);
    const { send } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    await expectNothing(page, send, start(page.doc, send, true, serverUrl));
  });

  it('works on the step under the path of a server URL with a path', async () => {
    const page = openFixture('login-mfa.html', `${SERVER_URL}/sk/login/mfa?method=backup_code`);
    const { send } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    const autofill = start(page.doc, send, true, `${SERVER_URL}/sk`);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    expect(await autofill.trigger()).toEqual({ filled: true, number: 1 });
  });

  it.each([
    [
      "a look-alike form without the server's mark",
      (doc: Document) => {
        doc.querySelector('form')?.removeAttribute('data-sparekey-form');
      },
    ],
    [
      'a second marked form',
      (doc: Document) => {
        doc.querySelector('main')?.append(doc.createElement('form'));
        doc.querySelector('main > form:last-child')?.setAttribute('data-sparekey-form', 'backup_code');
      },
    ],
  ])('%s on the step gets nothing', async (_, change) => {
    const page = openFixture('login-mfa.html');
    change(page.doc);
    const { send } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    await expectNothing(page, send, start(page.doc, send));
  });

  it("gets nothing for split boxes or any field outside the server's form", async () => {
    const page = openFixture('split-boxes.html');
    const { send } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    start(page.doc, send);
    await new Promise((r) => setTimeout(r, 80));
    expect(send).not.toHaveBeenCalled();
    expect(hostOf(page)).toBeNull();
  });

  it('asks for no code once a script moved the page off the step (history.pushState)', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    page.doc.defaultView?.history.pushState(null, '', '/wiki/lure');
    expect(await autofill.trigger()).toEqual({ filled: false, reason: 'no_field' });
    expect(asked).toEqual([AUTOFILL_STATUS]);
    expect(input(page).value).toBe('');
  });
});

describe('a field or button the user cannot see', () => {
  const HIDDEN_TEXT = 'Make this field and this button fully visible: nothing was filled';

  it('asks for no code when the field is hidden at the click', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    expect(watched.has(input(page))).toBe(true);
    expect(watched.has(hostOf(page) as Element)).toBe(true);
    concealed = (element) => (element === input(page) ? 'transparent' : null);

    buttonOf(page)?.click();
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe(HIDDEN_TEXT));
    expect(asked).toEqual([AUTOFILL_STATUS]);
    expect(input(page).value).toBe('');
  });

  it('asks for no code when the clicked button is covered, but the shortcut still fills a visible field', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    concealed = (element) => (element === hostOf(page) ? 'covered' : null);

    buttonOf(page)?.click();
    await vi.waitFor(() => expect(buttonOf(page)?.textContent).toBe(HIDDEN_TEXT));
    expect(asked).toEqual([AUTOFILL_STATUS]);
    expect(input(page).value).toBe('');

    expect(await autofill.trigger()).toEqual({ filled: true, number: 1 });
    expect(input(page).value).toBe(CODE);
  });

  it('asks for no code from the shortcut or the popup when the field is covered', async () => {
    const page = openFixture('login-mfa.html');
    const { send, asked } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    concealed = (element) => (element === input(page) ? 'covered' : null);
    expect(await autofill.trigger()).toEqual({ filled: false, reason: 'hidden' });
    expect(asked).toEqual([AUTOFILL_STATUS]);
  });

  it('checks again at the fill: a field hidden while the code was on its way stays empty', async () => {
    const page = openFixture('login-mfa.html');
    const send = vi.fn(async (request: ContentRequest) => {
      if (request.type === AUTOFILL_STATUS) return { state: 'ready', next: 1 };
      // The page hides the field between the click and the reply.
      concealed = (element) => (element === input(page) ? 'clipped' : null);
      return { ok: true, number: 1, code: CODE };
    });
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    expect(await autofill.trigger()).toEqual({ filled: false, reason: 'hidden' });
    expect(input(page).value).toBe('');
    expect(buttonOf(page)?.textContent).toBe(HIDDEN_TEXT);
  });
});

describe('a fill asked for from the toolbar or the keyboard', () => {
  it('fills the field without a click', async () => {
    const page = openFixture('login-mfa.html');
    const { send } = background({ state: 'ready', next: 4 }, { ok: true, number: 4, code: CODE });
    const autofill = start(page.doc, send);
    await vi.waitFor(() => expect(buttonOf(page)).not.toBeNull());
    expect(await autofill.trigger()).toEqual({ filled: true, number: 4 });
    expect(input(page).value).toBe(CODE);
  });

  it('asks for no code where there is no field', async () => {
    const page = openFixture('login-mfa-totp.html');
    const { send } = background({ state: 'ready', next: 1 }, { ok: true, number: 1, code: CODE });
    const autofill = start(page.doc, send);
    expect(await autofill.trigger()).toEqual({ filled: false, reason: 'no_field' });
    expect(send).not.toHaveBeenCalled();
  });
});

describe('the words', () => {
  it('come from the browser catalogue, with English when a key is missing', () => {
    const french = translator((key, subs) =>
      key === 'autofillFill' ? `Remplir le code de secours n° ${subs?.[0]}` : '',
    );
    expect(french('autofillFill', 5)).toBe('Remplir le code de secours n° 5');
    expect(french('autofillFilled', 5)).toBe('Filled backup code #5');
  });

  it('put every name where it belongs, as typed', () => {
    const english = translator(() => '');
    expect(english('autofillOtherUser', 'alice', 'bob')).toBe('Kept codes belong to alice, not bob');
    expect(english('autofillOtherUser', 'a$&b', '$1')).toBe('Kept codes belong to a$&b, not $1');
  });

  it('fall back to what the English catalogue says', () => {
    const catalogue = JSON.parse(
      readFileSync(resolve(import.meta.dirname, '../../extension/_locales/en/messages.json'), 'utf8'),
    ) as Record<string, { message: string; placeholders?: Record<string, { content: string }> }>;
    for (const [key, fallback] of Object.entries(AUTOFILL_TEXT)) {
      const entry = catalogue[key];
      const message = entry?.message.replace(
        /\$(\w+)\$/g,
        (_, name: string) => entry.placeholders?.[name.toLowerCase()]?.content ?? '',
      );
      expect(message, key).toBe(fallback);
    }
  });
});
