/**
 * Who may ask the background for a code (isTrustedContentSender), and which tab a fill request goes to
 * (fillInActiveTab). A wrong yes here hands a backup code to another site, frame or extension.
 */

import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Runtime, Tabs } from 'webextension-polyfill';

const tabs = vi.hoisted(() => ({
  query: vi.fn(async (_query: unknown): Promise<unknown[]> => []),
  sendMessage: vi.fn(async (..._args: unknown[]): Promise<unknown> => undefined),
}));
vi.mock('webextension-polyfill', () => ({ default: { tabs } }));

const { isTrustedContentSender } = await import('../../extension/src/autofill/sender');
const { fillInActiveTab } = await import('../../extension/src/autofill/trigger');
const { AUTOFILL_TRIGGER } = await import('../../extension/src/autofill/messages');

const ID = 'sparekey@extension';
const SERVER = 'https://sparekey.example';
const PAGE = `${SERVER}/login/mfa?method=backup_code`;
const tab = { id: 7, url: PAGE, index: 0, highlighted: true, active: true, pinned: false, incognito: false };
const good: Runtime.MessageSender = { id: ID, url: PAGE, frameId: 0, tab };
const trusted = (sender: object, serverOrigin: string | null = SERVER) =>
  isTrustedContentSender(sender as Runtime.MessageSender, ID, serverOrigin);

describe('a message sender', () => {
  it('is trusted when it is our content script in the top frame of a server tab', () => {
    expect(trusted(good)).toBe(true);
    expect(trusted({ ...good, origin: SERVER })).toBe(true);
    // Firefox does not report the tab's address to a listener without the tabs permission.
    expect(trusted({ ...good, tab: { ...tab, url: undefined } })).toBe(true);
  });

  it.each([
    ['no server is configured', good, null],
    ['another extension sends it', { ...good, id: 'evil@extension' }, SERVER],
    ['it has no sender id', { ...good, id: undefined }, SERVER],
    ['it comes from no tab (popup, options)', { ...good, tab: undefined }, SERVER],
    ['its tab has no id', { ...good, tab: { ...tab, id: undefined } }, SERVER],
    ['it comes from a frame', { ...good, frameId: 2 }, SERVER],
    ['its frame is unknown', { ...good, frameId: undefined }, SERVER],
    ['it has no address', { ...good, url: undefined }, SERVER],
    ['its address is not a URL', { ...good, url: 'not a url' }, SERVER],
    ['its page is another site', { ...good, url: 'https://evil.example/login' }, SERVER],
    [
      'its page is the server host on another port',
      { ...good, url: 'https://sparekey.example:8443/' },
      SERVER,
    ],
    ['its page is the server over http', { ...good, url: 'http://sparekey.example/login' }, SERVER],
    ['its tab has navigated elsewhere', { ...good, tab: { ...tab, url: 'https://evil.example/' } }, SERVER],
    ['its frame is sandboxed (opaque origin)', { ...good, origin: 'null' }, SERVER],
    ['its frame reports another origin', { ...good, origin: 'https://evil.example' }, SERVER],
  ])('is not trusted when %s', (_, sender, serverOrigin) => {
    expect(trusted(sender, serverOrigin)).toBe(false);
  });
});

describe('a fill request from the shortcut or the popup', () => {
  beforeEach(() => {
    tabs.query.mockReset().mockResolvedValue([tab]);
    tabs.sendMessage.mockReset().mockResolvedValue({ filled: true, number: 3 });
  });

  it("goes to the top frame of the current window's active tab and returns the content script's answer", async () => {
    expect(await fillInActiveTab(`${SERVER}/`)).toEqual({ filled: true, number: 3 });
    expect(tabs.query).toHaveBeenCalledWith({ active: true, currentWindow: true });
    expect(tabs.sendMessage).toHaveBeenCalledWith(7, { type: AUTOFILL_TRIGGER }, { frameId: 0 });
  });

  it('goes to the tab it is given (the shortcut names its tab) without asking for the active one', async () => {
    await fillInActiveTab(SERVER, { ...tab, id: 9 } as Tabs.Tab);
    expect(tabs.query).not.toHaveBeenCalled();
    expect(tabs.sendMessage).toHaveBeenCalledWith(9, { type: AUTOFILL_TRIGGER }, { frameId: 0 });
  });

  it.each([
    ['no server is configured', null, [tab]],
    ['there is no active tab', SERVER, []],
    ['the tab has no id', SERVER, [{ ...tab, id: undefined }]],
    ['the tab address is not visible (no host permission)', SERVER, [{ ...tab, url: undefined }]],
    ['the tab shows another site', SERVER, [{ ...tab, url: 'https://evil.example/login' }]],
    [
      'the tab shows the server host on another port',
      SERVER,
      [{ ...tab, url: 'https://sparekey.example:1/' }],
    ],
  ])('is not sent when %s', async (_, server, active) => {
    tabs.query.mockResolvedValue(active);
    expect(await fillInActiveTab(server)).toEqual({ filled: false, reason: 'not_server_tab' });
    expect(tabs.sendMessage).not.toHaveBeenCalled();
  });

  it('says there is no content script when the tab does not answer or cannot be reached', async () => {
    tabs.sendMessage.mockResolvedValue(undefined);
    expect(await fillInActiveTab(SERVER)).toEqual({ filled: false, reason: 'no_content_script' });
    tabs.sendMessage.mockRejectedValue(new Error('Could not establish connection.'));
    expect(await fillInActiveTab(SERVER)).toEqual({ filled: false, reason: 'no_content_script' });
  });

  it("passes on the content script's refusal as it is", async () => {
    tabs.sendMessage.mockResolvedValue({ filled: false, reason: 'no_field' });
    expect(await fillInActiveTab(SERVER)).toEqual({ filled: false, reason: 'no_field' });
  });
});
