/**
 * Autofill against hostile pages of the server's own origin (issue #8, finding 3), in Chromium with the
 * real server. A loopback proxy gives "same origin, another path": it forwards every path to the real
 * server, except /wiki/, where it serves a page someone else wrote (a wiki, an upload). The extension's
 * server address is the proxy's. Each case ends with the vault still offering #1 and the field empty;
 * the last one fills #1 once the page is left alone, so nothing was handed out before.
 */
import { createServer, request as forwardRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { extensionRun } from '../support/chromium';
import { keepCodesInPopup } from '../support/popup-codes';
import { call } from '../support/server';

const run = extensionRun('chromium-e2e-hostile');

const USER = 'alice';
const USER_PASSWORD = 'correct horse battery';
const PASSPHRASE = 'kept codes passphrase';
const HIDDEN = 'Make this field and this button fully visible: nothing was filled';

/**
 * The page a hostile author put on the origin: the server's backup-code form copied to the letter
 * (data-username, the server's mark, the field's attributes), the field made invisible, and a lure
 * under which the fill button would land.
 */
const LURE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Team wiki</title></head>
<body>
<h1>Team wiki</h1>
<form method="post" action="/wiki/collect" data-username="${USER}" data-sparekey-form="backup_code">
<div class="field">
<label for="backup_code">Backup code</label>
<input id="backup_code" name="backup_code" type="text" autocomplete="one-time-code" maxlength="64" style="opacity:0">
</div>
<button type="submit">Verify</button>
</form>
<button id="lure" type="button">Claim your prize</button>
</body></html>`;

let proxy: Server;
let origin = '';

/** Forwards everything to the real server, Host header and all (its origin check sees the proxy's). */
async function startProxy(target: string): Promise<void> {
  const upstream = new URL(target);
  proxy = createServer((req, res) => {
    if (req.url?.startsWith('/wiki/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(LURE_PAGE);
      return;
    }
    const forward = forwardRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  await new Promise<void>((listening) => proxy.listen(0, '127.0.0.1', listening));
  origin = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

beforeAll(async () => startProxy(run.server.url));
afterAll(async () => {
  await new Promise((closed) => proxy?.close(closed));
});

/** The admin, through the API: 4 codes per set, and alice with an authenticator. Returns her secret. */
async function setUpUser(): Promise<string> {
  const admin = await call(run.server.url, 'POST', '/api/auth/login', {
    body: { username: 'admin', password: run.server.adminPassword },
  });
  const token = admin.body.token as string;
  const policy = await call(run.server.url, 'PUT', '/api/admin/policy', {
    token,
    body: { mfaUsage: 'optional_per_user', backupCodes: { enabled: true, count: 4, warnWhenRemaining: 1 } },
  });
  expect(policy.status).toBe(200);
  const created = await call(run.server.url, 'POST', '/api/admin/users', {
    token,
    body: { username: USER, password: USER_PASSWORD, role: 'user' },
  });
  const mfa = await call(run.server.url, 'PATCH', `/api/admin/users/${created.body.user.id}`, {
    token,
    body: { mfa: { type: 'totp' } },
  });
  expect(mfa.status).toBe(200);
  return mfa.body.totp.secret as string;
}

/** What the vault has handed out: spent numbers and those filled since the last sync. */
async function handedOut(popup: Page): Promise<{ spent: number[]; filled: number[] }> {
  return popup.evaluate(async () => {
    type KeptSet = { spent: number[]; filled: { number: number }[] };
    type Area = { get(key: string): Promise<Record<string, KeptSet[]>> };
    const { chrome } = globalThis as unknown as { chrome: { storage: { local: Area } } };
    const sets = (await chrome.storage.local.get('sparekey.vaults'))['sparekey.vaults'] ?? [];
    return {
      spent: sets.flatMap((set) => set.spent),
      filled: sets.flatMap((set) => set.filled.map((fill) => fill.number)),
    };
  });
}

/**
 * The fill button's label, read from the accessibility tree (it sits in a closed shadow root), and the
 * centre of its host for a real mouse click. Null when there is none.
 */
async function fillButton(page: Page): Promise<{ name: string; x: number; y: number } | null> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as {
      nodes: { role?: { value?: string }; name?: { value?: string } }[];
    };
    const button = nodes.find(
      (node) => node.role?.value === 'button' && /backup code|fully visible/.test(String(node.name?.value)),
    );
    const box = (await page.locator('sparekey-autofill').count())
      ? await page.locator('sparekey-autofill').boundingBox()
      : null;
    if (!button || !box) return null;
    return { name: String(button.name?.value), x: box.x + box.width / 2, y: box.y + box.height / 2 };
  } finally {
    await cdp.detach();
  }
}

async function clickFillButton(page: Page, name: string): Promise<void> {
  await expect.poll(async () => (await fillButton(page))?.name, { timeout: 15_000 }).toBe(name);
  const button = await fillButton(page);
  await page.mouse.click(button?.x ?? 0, button?.y ?? 0);
}

const fieldValue = (page: Page) =>
  page.evaluate(() => (document.getElementById('backup_code') as HTMLInputElement).value);

/** The server's own backup-code step, through the proxy. */
async function openBackupCodeStep(page: Page): Promise<void> {
  await page.goto(`${origin}/login`);
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(USER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Use a backup code' }).click();
  await page.getByRole('heading', { name: 'Use a backup code' }).waitFor();
  await clickableAfterLoad(page);
}

/** The button offers #1 on the untouched page: the starting point of each case. */
async function clickableAfterLoad(page: Page): Promise<void> {
  await expect
    .poll(async () => (await fillButton(page))?.name, { timeout: 15_000 })
    .toBe('Fill backup code #1');
}

/** A click on the button is refused, nothing is typed, and the vault handed nothing out. */
async function expectRefused(page: Page, popup: Page): Promise<void> {
  await expect.poll(async () => (await fillButton(page))?.name, { timeout: 5_000 }).toBe(HIDDEN);
  expect(await fieldValue(page)).toBe('');
  expect(await handedOut(popup)).toEqual({ spent: [], filled: [] });
}

/** A box over the element `selector` matches, `margin` px wider each side, as a script of the origin adds it. */
async function laidOver(
  page: Page,
  selector: string,
  margin: number,
  text: string,
  look: Record<string, string>,
): Promise<void> {
  await page.evaluate(
    ({ selector, margin, text, look }) => {
      const box = (document.querySelector(selector) as HTMLElement).getBoundingClientRect();
      const cover = document.createElement('div');
      for (const [property, value] of Object.entries({
        position: 'fixed',
        left: `${box.left - margin}px`,
        top: `${box.top - margin}px`,
        width: `${box.width + 2 * margin}px`,
        height: `${box.height + 2 * margin}px`,
        'z-index': '2147483647',
        ...look,
      })) {
        cover.style.setProperty(property, value);
      }
      cover.textContent = text;
      document.body.append(cover);
    },
    { selector, margin, text, look },
  );
}

/** A fresh load of the step, `restyle` run as a script of the origin, a real click on the button: refused. */
async function refusedAfter(site: Page, popup: Page, restyle: () => Promise<unknown>): Promise<void> {
  await site.reload();
  await clickableAfterLoad(site);
  await restyle();
  await clickFillButton(site, 'Fill backup code #1');
  await expectRefused(site, popup);
}

describe('autofill on hostile pages of the server origin', () => {
  test('a look-alike form elsewhere on the origin, and the real step restyled or covered, get no code', async () => {
    const popup = await run.newPage({ width: 380, height: 900 });
    const codes = await keepCodesInPopup(
      popup,
      run.browser.url('popup.html'),
      { username: USER, password: USER_PASSWORD, secret: await setUpUser(), passphrase: PASSPHRASE },
      origin,
    );
    const site = await run.newPage({ width: 900, height: 700 });

    // --- (a) Another path of the same origin, with the server's form copied to the letter: no button.
    await site.goto(`${origin}/wiki/lure`);
    await site.getByRole('heading', { name: 'Team wiki' }).waitFor();
    // Long enough for a content script to find the field and ask the background (it answers in ms).
    await site.waitForTimeout(1500);
    expect(await site.locator('sparekey-autofill').count()).toBe(0);
    await site.getByRole('button', { name: 'Claim your prize' }).click();
    expect(await fieldValue(site)).toBe('');
    // The popup's fill asks that tab too: there is no field there for SpareKey.
    await site.bringToFront();
    await popup.reload();
    await popup.getByRole('button', { name: 'Fill backup code #1' }).click();
    await popup.getByText('This page has no backup-code field.', { exact: false }).waitFor();
    expect(await fieldValue(site)).toBe('');
    expect(await handedOut(popup)).toEqual({ spent: [], filled: [] });

    // --- (b) The real step, the field wrapped in opacity:0 by a script of the origin: no fill.
    await site.bringToFront();
    await openBackupCodeStep(site);
    await refusedAfter(site, popup, () =>
      site.evaluate(() => {
        const input = document.getElementById('backup_code') as HTMLInputElement;
        const wrapper = document.createElement('span');
        wrapper.style.setProperty('opacity', '0');
        input.before(wrapper);
        wrapper.append(input);
      }),
    );
    // Faint, not invisible: two ancestors at 0.5 each leave a quarter, for the field and the button.
    await refusedAfter(site, popup, () =>
      site.evaluate(() => {
        for (const selector of ['main', 'form']) {
          (document.querySelector(selector) as HTMLElement).style.setProperty('opacity', '0.5');
        }
      }),
    );

    // --- (c) The field covered by another element, the button visible and clicked: no fill.
    await refusedAfter(site, popup, () =>
      laidOver(site, '#backup_code', 4, 'Nothing to see here', { background: 'white' }),
    );
    // The button under a lure that lets clicks through (pointer-events: none): the user clicks the lure.
    await refusedAfter(site, popup, () =>
      laidOver(site, 'sparekey-autofill', 3, 'Claim your prize', {
        background: 'gold',
        'pointer-events': 'none',
      }),
    );

    // --- Left alone, the same step fills #1: none of the refusals above spent or handed out a code.
    await site.reload();
    await clickableAfterLoad(site);
    await clickFillButton(site, 'Fill backup code #1');
    await expect.poll(async () => (await fillButton(site))?.name).toBe('Filled backup code #1');
    expect(await fieldValue(site)).toBe(codes[0]);
    expect(run.pageErrors).toEqual([]);
  }, 240_000);
});
