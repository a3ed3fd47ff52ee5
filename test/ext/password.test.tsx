// @vitest-environment happy-dom
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { describe, expect, test, vi } from 'vitest';
import { Options } from '../../extension/src/options/Options';
import { Popup } from '../../extension/src/popup/Popup';
import { fake } from './fake-browser';
import { errorReply, fakeServer, type Request } from './fake-server';
import { ADMIN, ALICE, adminUser, configuredBrowser, me, POLICY } from './fixtures';
import { useFreshExtension } from './setup';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

useFreshExtension();

const field = (name: string) => screen.getByLabelText(name) as HTMLInputElement;
const type = (name: string, value: string) => fireEvent.input(field(name), { target: { value } });

function fillChange(current: string, next: string, again = next) {
  type('Current password', current);
  type('New password', next);
  type('New password again', again);
  fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
}

/** The error shown at a field: the element its aria-describedby names, with the field marked invalid. */
function errorAt(name: string): string | null {
  const input = field(name);
  if (input.getAttribute('aria-invalid') !== 'true') return null;
  const ids = input.getAttribute('aria-describedby')?.split(' ') ?? [];
  const error = ids.map((id) => document.getElementById(id)).find((el) => el?.className === 'field-error');
  return error?.textContent ?? null;
}

const bearer = (request: Request) => request.headers.Authorization;

describe('popup: Change password', () => {
  test('shows the server’s refusals at their field, then changes it and carries on with the new session', async () => {
    await configuredBrowser({ token: 'old-token' });
    const server = fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [] } },
      'POST /api/me/password': [
        errorReply(401, 'invalid_credentials', 'That is not your current password.', {
          field: 'currentPassword',
        }),
        errorReply(
          400,
          'weak_password',
          'This password is on a list of commonly used passwords: choose another.',
          { field: 'newPassword' },
        ),
        { body: { token: 'new-token' } },
      ],
    });
    render(<Popup />);
    fireEvent.click(await screen.findByRole('button', { name: 'Change password' }));
    expect(await screen.findByRole('heading', { name: 'Change password' })).toBeTruthy();
    expect(screen.getByText(/At least 8 characters/)).toBeTruthy();

    // Two new passwords that differ never reach the server.
    fillChange('alice-password', 'velvet-lantern-harbour', 'velvet-lantern-harbor');
    await waitFor(() => expect(errorAt('New password again')).toBe('The two new passwords differ.'));
    expect(server.callsTo('POST', '/api/me/password')).toHaveLength(0);

    fillChange('not-it', 'velvet-lantern-harbour');
    await waitFor(() => expect(errorAt('Current password')).toBe('That is not your current password.'));
    expect(field('Current password').value).toBe('');

    fillChange('alice-password', 'Password1');
    await waitFor(() => expect(errorAt('New password')).toMatch(/commonly used passwords/));
    expect(errorAt('Current password')).toBeNull();

    fillChange('alice-password', 'velvet-lantern-harbour');
    expect(await screen.findByText(/Your password is changed/)).toBeTruthy();
    expect(server.callsTo('POST', '/api/me/password').at(-1)?.body).toEqual({
      currentPassword: 'alice-password',
      newPassword: 'velvet-lantern-harbour',
    });
    // The old session ended with the change: the popup now speaks with the new token, and keeps it.
    expect(await fake.storage.session.get('sessionToken')).toEqual({ sessionToken: 'new-token' });
    await waitFor(() =>
      expect(bearer(server.callsTo('GET', '/api/me').at(-1) as Request)).toBe('Bearer new-token'),
    );
  });

  test('a user who must change their password sees only the form and sign-out, until it is done', async () => {
    await configuredBrowser({ token: 'restricted' });
    const server = fakeServer({
      'GET /api/me': [{ body: { ...me(), mustChangePassword: true } }, { body: me() }],
      'GET /api/me/events': { body: { events: [] } },
      'POST /api/me/password': { body: { token: 'free' } },
    });
    render(<Popup />);
    expect(await screen.findByText(/choose your own to continue/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Generate/ })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeTruthy();

    fillChange('temporary-password', 'velvet-lantern-harbour');
    expect(await screen.findByText('7 of 10 codes left')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Generate a new set' })).toBeTruthy();
    expect(bearer(server.callsTo('GET', '/api/me').at(-1) as Request)).toBe('Bearer free');
  });
});

describe('options page', () => {
  const USERS = [adminUser(ADMIN), adminUser(ALICE, { mustChangePassword: false })];

  test('Reset password asks first, then shows the generated temporary password once', async () => {
    await configuredBrowser({ token: 'admin-token' });
    const server = fakeServer({
      'GET /api/me': { body: me({}, ADMIN) },
      'GET /api/admin/policy': { body: POLICY },
      'GET /api/admin/users': [
        { body: { users: USERS } },
        { body: { users: [adminUser(ADMIN), adminUser(ALICE, { mustChangePassword: true })] } },
      ],
      'GET /api/admin/audit': { body: { events: [] } },
      'POST /api/admin/users/6f1c2c8e-0000-4000-8000-000000000001/password': {
        body: { user: adminUser(ALICE, { mustChangePassword: true }), password: 'Zq3-temporary-Xy9_kLm' },
      },
    });
    render(<Options />);
    const row = await screen.findByRole('row', { name: /^alice/ });
    // An admin changes their own password, not resets it.
    const adminRow = screen.getByRole('row', { name: /^admin/ });
    expect(
      (within(adminRow).getByRole('button', { name: 'Reset password: admin' }) as HTMLButtonElement).disabled,
    ).toBe(true);

    fireEvent.click(within(row).getByRole('button', { name: 'Reset password: alice' }));
    expect(within(row).getByText(/Their sessions end and they must choose a new password/)).toBeTruthy();
    expect(
      server.callsTo('POST', '/api/admin/users/6f1c2c8e-0000-4000-8000-000000000001/password'),
    ).toHaveLength(0);
    fireEvent.click(within(row).getByRole('button', { name: 'Reset' }));

    expect(await screen.findByRole('heading', { name: 'Temporary password for alice' })).toBeTruthy();
    expect(screen.getByText('Zq3-temporary-Xy9_kLm')).toBeTruthy();
    expect(screen.getByText(/shown only this once/)).toBeTruthy();
    expect(await screen.findByText('(must change password)')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Done' }));
    expect(screen.queryByText('Zq3-temporary-Xy9_kLm')).toBeNull();
  });

  test('an admin who must change their password gets the form, not the console', async () => {
    await configuredBrowser({ token: 'restricted' });
    const server = fakeServer({
      'GET /api/me': [{ body: { ...me({}, ADMIN), mustChangePassword: true } }, { body: me({}, ADMIN) }],
      'GET /api/admin/policy': { body: POLICY },
      'GET /api/admin/users': { body: { users: USERS } },
      'GET /api/admin/audit': { body: { events: [] } },
      'POST /api/me/password': [
        errorReply(400, 'weak_password', 'Password must be at least 8 characters.', { field: 'newPassword' }),
        { body: { token: 'free' } },
      ],
    });
    render(<Options />);
    expect(await screen.findByText(/choose your own to continue/)).toBeTruthy();
    expect(screen.queryByRole('heading', { name: 'Multifactor' })).toBeNull();
    fillChange('generated-password', 'short');
    await waitFor(() => expect(errorAt('New password')).toBe('Password must be at least 8 characters.'));
    expect(server.calls.filter((c) => c.path.startsWith('/api/admin'))).toHaveLength(0);

    fillChange('generated-password', 'velvet-lantern-harbour');
    expect(await screen.findByRole('heading', { name: 'Multifactor' })).toBeTruthy();
    await screen.findByRole('row', { name: /^alice/ });
    expect(bearer(server.callsTo('GET', '/api/admin/users').at(-1) as Request)).toBe('Bearer free');
  });
});
