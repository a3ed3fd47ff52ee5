// @vitest-environment happy-dom
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { describe, expect, test, vi } from 'vitest';
import { Popup } from '../../extension/src/popup/Popup';
import { fake } from './fake-browser';
import { errorReply, fakeServer, SERVER } from './fake-server';
import { ALICE, codeUsedEvent, configuredBrowser, me } from './fixtures';
import { useFreshExtension } from './setup';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

useFreshExtension();

describe('account view', () => {
  test('shows codes left of total, when generated, and the used numbers in order', async () => {
    await configuredBrowser({ token: 't' });
    fakeServer({ 'GET /api/me': { body: me() }, 'GET /api/me/events': { body: { events: [] } } });
    render(<Popup />);
    expect(await screen.findByText('7 of 10 codes left')).toBeTruthy();
    expect(screen.getByText('Used: No. 1, 3, 4')).toBeTruthy();
    expect(screen.getByText(/^Generated Nov 20, 2026/)).toBeTruthy();
    expect(screen.getByText('Authenticator app, set up')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Generate a new set' })).toBeTruthy();
    // Above the threshold: no warning and no badge.
    expect(screen.queryByText(/Generate a new set and store it safely/)).toBeNull();
    expect(fake.action.setBadgeText).toHaveBeenLastCalledWith({ text: '' });
  });

  test('warns and puts the count on the badge when few codes remain', async () => {
    await configuredBrowser({ token: 't' });
    fakeServer({
      'GET /api/me': { body: me({ remaining: 2, used: [1, 2, 3, 4, 5, 6, 7, 8], warn: true }) },
      'GET /api/me/events': { body: { events: [] } },
    });
    render(<Popup />);
    expect(
      await screen.findByText('Only 2 codes left. Generate a new set and store it safely.'),
    ).toBeTruthy();
    expect(fake.action.setBadgeText).toHaveBeenLastCalledWith({ text: '2' });
  });

  test('when generating is not allowed, says why in the server’s words and offers no button', async () => {
    await configuredBrowser({ token: 't' });
    fakeServer({
      'GET /api/me': {
        body: me({
          allowed: false,
          reason: {
            code: 'backup_codes_disabled',
            message: 'Your administrator has not enabled backup codes.',
          },
          total: 0,
          remaining: 0,
          used: [],
          generatedAt: null,
        }),
      },
      'GET /api/me/events': { body: { events: [] } },
    });
    render(<Popup />);
    expect(await screen.findByText('Your administrator has not enabled backup codes.')).toBeTruthy();
    expect(screen.getByText('You have no backup codes yet.')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Generate/ })).toBeNull();
  });

  test('MFA "None" under "optional per user": says who can turn it on, in the reader’s language', async () => {
    await configuredBrowser({ token: 't' });
    fakeServer({
      'GET /api/me': {
        body: {
          ...me({
            allowed: false,
            reason: { code: 'mfa_off_for_user', message: 'The server’s own English sentence.' },
            total: 0,
            remaining: 0,
            used: [],
            generatedAt: null,
          }),
          mfa: { enabled: false, enrolled: false, type: 'none' },
        },
      },
      'GET /api/me/events': { body: { events: [] } },
    });
    render(<Popup />);
    expect(
      await screen.findByText(
        'Ask your administrator to set up multifactor authentication for your account.',
      ),
    ).toBeTruthy();
    expect(
      screen.getByText('Backup codes work with multifactor authentication, which is off for your account.'),
    ).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Generate/ })).toBeNull();
  });

  test('server text is shown as text, never parsed as HTML', async () => {
    await configuredBrowser({ token: 't' });
    const markup = '<img src=x onerror="alert(1)">Not allowed';
    fakeServer({
      'GET /api/me': { body: me({ allowed: false, reason: { code: 'x', message: markup } }) },
      'GET /api/me/events': { body: { events: [] } },
    });
    const { container } = render(<Popup />);
    expect(await screen.findByText(markup)).toBeTruthy();
    expect(container.querySelector('img')).toBeNull();
  });

  test('an expired session goes back to sign-in with a word why, and forgets the token', async () => {
    await configuredBrowser({ token: 'stale' });
    fakeServer({ 'GET /api/me': errorReply(401, 'unauthorized', 'Sign in again.') });
    render(<Popup />);
    expect(await screen.findByText('Your session has ended. Please sign in again.')).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
    await waitFor(() => expect(fake.storage.session.data.has('sessionToken')).toBe(false));
  });

  test('a session refused because MFA is now required goes back to sign-in saying so', async () => {
    await configuredBrowser({ token: 'password-only' });
    fakeServer({
      'GET /api/me': errorReply(401, 'mfa_step_required', 'Multifactor authentication is now required.'),
    });
    render(<Popup />);
    expect(
      await screen.findByText(
        'Multifactor authentication is now required for your account. Please sign in again to complete it.',
      ),
    ).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
    await waitFor(() => expect(fake.storage.session.data.has('sessionToken')).toBe(false));
  });

  test('an unreachable server shows the error with a way to try again', async () => {
    await configuredBrowser({ token: 't' });
    const server = fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [] } },
    });
    server.setOffline(true);
    render(<Popup />);
    expect((await screen.findByRole('alert')).textContent).toMatch(/^The server cannot be reached/);
    server.setOffline(false);
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('7 of 10 codes left')).toBeTruthy();
  });

  test('sign out tells the server, forgets the token and shows the sign-in form', async () => {
    await configuredBrowser({ token: 'tok-9' });
    const server = fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [] } },
      'POST /api/auth/logout': { status: 204 },
    });
    render(<Popup />);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(server.callsTo('POST', '/api/auth/logout')[0]?.headers.Authorization).toBe('Bearer tok-9');
    expect(fake.storage.session.data.has('sessionToken')).toBe(false);
  });

  test('sign out still forgets the token when the server cannot be reached', async () => {
    await configuredBrowser({ token: 'tok-9' });
    const server = fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [] } },
    });
    render(<Popup />);
    const signOut = await screen.findByRole('button', { name: 'Sign out' });
    server.setOffline(true);
    fireEvent.click(signOut);
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(fake.storage.session.data.has('sessionToken')).toBe(false);
  });
});

describe('notice of backup-code use', () => {
  test('says who, when and from where, until the user says it was them', async () => {
    await configuredBrowser({ token: 't' });
    const recent = new Date(Date.now() - 60 * 60 * 1000).toISOString();
    const old = new Date(Date.now() - 60 * 24 * 60 * 60 * 1000).toISOString();
    fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': {
        body: {
          events: [
            codeUsedEvent(recent),
            codeUsedEvent(old, { ip: '198.51.100.1' }),
            { ...codeUsedEvent(recent), id: 'other', type: 'login_succeeded' },
          ],
        },
      },
    });
    render(<Popup />);
    expect(await screen.findByRole('heading', { name: 'A backup code was used to sign in' })).toBeTruthy();
    const lines = [...document.querySelectorAll('ul.code-uses li')].map((li) => li.textContent);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^No\. 3 · .+ · Firefox on Linux · 203\.0\.113\.7$/);
    // Two months old is history (the audit log has it), not news.
    expect(screen.queryByText(/198\.51\.100\.1/)).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'This was me' }));
    await waitFor(() => expect(screen.queryByRole('heading', { name: /backup code was used/ })).toBeNull());
    expect(fake.storage.local.data.get('codeUseDismissedAt')).toBe(recent);
  });

  test('one short line per use, a replaced set’s code labelled once, the raw client only under Details', async () => {
    await configuredBrowser({ token: 't' });
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    const hostile = `<b>Chrome/1</b> (Windows) ${'A'.repeat(200)}`;
    const oldUse = codeUsedEvent(ago(50), { id: 'u-old', details: { number: 3, remaining: 9 } });
    fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': {
        body: {
          events: [
            codeUsedEvent(ago(5), { id: 'u3', details: { number: 3, remaining: 7 }, userAgent: hostile }),
            codeUsedEvent(ago(10), { id: 'u1', details: { number: 1, remaining: 8 }, ip: '2001:db8::7' }),
            { ...codeUsedEvent(ago(30)), id: 'gen', type: 'backup_codes_generated', details: { count: 10 } },
            oldUse,
            // The same event twice (a page boundary moving): shown once.
            oldUse,
          ],
        },
      },
    });
    render(<Popup />);
    await screen.findByRole('heading', { name: 'A backup code was used to sign in' });
    const lines = [...document.querySelectorAll('ul.code-uses li')].map((li) => li.textContent);
    expect(lines).toEqual([
      expect.stringMatching(/^No\. 3 · .+ · Chrome on Windows · 203\.0\.113\.7$/),
      expect.stringMatching(/^No\. 1 · .+ · Firefox on Linux · 2001:db8::7$/),
      expect.stringMatching(/^No\. 3 of an earlier set · .+ · Firefox on Linux · 203\.0\.113\.7$/),
    ]);
    for (const line of lines) expect(line).not.toMatch(/Mozilla|<b>|AAAA/);
    const details = screen.getByText('Details').closest('details') as HTMLDetailsElement;
    expect(details.open).toBe(false);
    expect(details.textContent).toContain(hostile);
    expect(document.querySelector('b')).toBeNull();
  });

  test('stays hidden for uses already acknowledged', async () => {
    await configuredBrowser({ token: 't' });
    const at = new Date(Date.now() - 60_000).toISOString();
    await fake.storage.local.set({ codeUseDismissedAt: at });
    fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [codeUsedEvent(at)] } },
    });
    render(<Popup />);
    await screen.findByText('7 of 10 codes left');
    expect(screen.queryByRole('heading', { name: /backup code was used/ })).toBeNull();
  });

  test('leaves out the codes this browser used itself', async () => {
    await configuredBrowser({ token: 't' });
    const recent = new Date(Date.now() - 60_000).toISOString();
    await fake.storage.local.set({
      'sparekey.ownCodeUses': [
        { server: SERVER, username: 'alice', userId: ALICE.id, number: 3, at: Date.parse(recent) - 5_000 },
      ],
    });
    fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': {
        body: { events: [codeUsedEvent(recent), codeUsedEvent(recent, { id: 'x', details: { number: 5 } })] },
      },
    });
    render(<Popup />);
    expect(await screen.findByRole('heading', { name: 'A backup code was used to sign in' })).toBeTruthy();
    expect(screen.getByText(/^No\. 5 · /)).toBeTruthy();
    expect(screen.queryByText(/^No\. 3 · /)).toBeNull();
    expect(screen.queryByText(/Code No\. 3:/)).toBeNull();
  });
});
