// @vitest-environment happy-dom
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { describe, expect, test, vi } from 'vitest';
import { Options } from '../../extension/src/options/Options';
import { errorReply, fakeServer } from './fake-server';
import { ADMIN, ALICE, adminUser, configuredBrowser, me, POLICY } from './fixtures';
import { useFreshExtension } from './setup';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

useFreshExtension();

const USERS = [
  adminUser(ADMIN, {
    mfa: { type: 'none', enrolled: false, configureLater: false },
    backupCodes: { total: 0, remaining: 0, generatedAt: null, lastUsedAt: null },
  }),
  adminUser(ALICE),
];

async function openAsAdmin(routes: Parameters<typeof fakeServer>[0] = {}) {
  await configuredBrowser({ token: 'admin-token' });
  const server = fakeServer({
    'GET /api/me': { body: me({}, ADMIN) },
    'GET /api/admin/policy': { body: POLICY },
    'GET /api/admin/users': { body: { users: USERS } },
    'GET /api/admin/audit': { body: { events: [] } },
    ...routes,
  });
  render(<Options />);
  await screen.findByRole('heading', { name: 'Multifactor' });
  await screen.findByRole('row', { name: /^alice/ });
  return server;
}

const saveButton = () => screen.getByRole('button', { name: 'Save' }) as HTMLButtonElement;

describe('options page access', () => {
  test('a non-admin sees a plain message and no settings', async () => {
    await configuredBrowser({ token: 'user-token' });
    const server = fakeServer({ 'GET /api/me': { body: me() } });
    render(<Options />);
    expect(
      await screen.findByText(/This page is for administrators\. You are signed in as alice/),
    ).toBeTruthy();
    expect(screen.queryByRole('heading', { name: 'Multifactor' })).toBeNull();
    expect(server.calls.filter((c) => c.path.startsWith('/api/admin'))).toHaveLength(0);
  });

  test('signed out, it offers the same sign-in as the popup', async () => {
    await configuredBrowser();
    render(<Options />);
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
  });
});

describe('Multifactor section', () => {
  test('Save is enabled only when something changed', async () => {
    await openAsAdmin();
    expect(saveButton().disabled).toBe(true);
    fireEvent.click(screen.getByRole('radio', { name: /MFA required/ }));
    expect(saveButton().disabled).toBe(false);
    fireEvent.click(screen.getByRole('radio', { name: /MFA optional per user/ }));
    expect(saveButton().disabled).toBe(true);
    fireEvent.click(screen.getByRole('checkbox', { name: 'Backup codes' }));
    expect(saveButton().disabled).toBe(false);
  });

  test('Configure opens the number of codes and the warning threshold; Save sends the whole policy', async () => {
    const saved = {
      mfaUsage: 'required',
      backupCodes: { enabled: true, count: 6, warnWhenRemaining: 2 },
    };
    const server = await openAsAdmin({ 'PUT /api/admin/policy': { body: saved } });
    const configure = screen.getByRole('button', { name: 'Configure' });
    expect(configure.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(configure);
    expect(configure.getAttribute('aria-expanded')).toBe('true');

    fireEvent.click(screen.getByRole('radio', { name: /MFA required/ }));
    fireEvent.click(screen.getByRole('checkbox', { name: 'Backup codes' }));
    fireEvent.input(screen.getByLabelText('Number of backup codes'), { target: { value: '6' } });
    fireEvent.input(screen.getByLabelText('Warn when this many codes are left'), { target: { value: '2' } });
    fireEvent.click(saveButton());

    expect(await screen.findByText('Multifactor settings saved.')).toBeTruthy();
    expect(server.callsTo('PUT', '/api/admin/policy')[0]?.body).toEqual(saved);
    expect(saveButton().disabled).toBe(true);
  });

  test('a server validation error is shown at its field, and nothing is reported saved', async () => {
    await openAsAdmin({
      'PUT /api/admin/policy': errorReply(
        400,
        'invalid_request',
        'backupCodes.count: Number of backup codes must be between 1 and 20.',
        { field: 'backupCodes.count' },
      ),
    });
    fireEvent.click(screen.getByRole('button', { name: 'Configure' }));
    const count = screen.getByLabelText('Number of backup codes');
    fireEvent.input(count, { target: { value: '25' } });
    fireEvent.click(saveButton());

    const message = await screen.findByText('Number of backup codes must be between 1 and 20.');
    expect(count.getAttribute('aria-invalid')).toBe('true');
    expect(count.getAttribute('aria-describedby')).toContain(message.id);
    expect(screen.queryByText('Multifactor settings saved.')).toBeNull();
    expect(saveButton().disabled).toBe(false);
  });

  test('an error the server does not tie to a field is shown for the section', async () => {
    await openAsAdmin({
      'PUT /api/admin/policy': errorReply(500, 'internal', 'Something broke on the server.'),
    });
    fireEvent.click(screen.getByRole('checkbox', { name: 'Backup codes' }));
    fireEvent.click(saveButton());
    expect((await screen.findByRole('alert')).textContent).toBe('Something broke on the server.');
  });

  test('an empty number is caught before sending', async () => {
    const server = await openAsAdmin();
    fireEvent.click(screen.getByRole('button', { name: 'Configure' }));
    fireEvent.input(screen.getByLabelText('Warn when this many codes are left'), { target: { value: '' } });
    fireEvent.click(saveButton());
    expect(await screen.findByText('Enter a whole number.')).toBeTruthy();
    expect(server.callsTo('PUT', '/api/admin/policy')).toHaveLength(0);
  });
});

describe('Users', () => {
  test('lists username, role, MFA, codes left of total and last code use', async () => {
    await openAsAdmin();
    const row = screen.getByRole('row', { name: /^alice/ });
    const cells = within(row)
      .getAllByRole('cell')
      .map((cell) => cell.textContent);
    expect(cells.slice(0, 3)).toEqual(['User', 'Authenticator app, set up', '7 of 10']);
    expect(cells[3]).toMatch(/^Nov 25, 2026/);
    const adminRow = screen.getByRole('row', { name: /^admin/ });
    expect(
      within(adminRow)
        .getAllByRole('cell')
        .map((cell) => cell.textContent)
        .slice(0, 4),
    ).toEqual(['Administrator', 'Not configured', 'None', 'Never']);
    // An admin cannot delete their own account from here.
    expect(
      (within(adminRow).getByRole('button', { name: 'Delete admin' }) as HTMLButtonElement).disabled,
    ).toBe(true);
  });

  test('delete asks first; Cancel keeps the user, confirming deletes and reloads', async () => {
    const server = await openAsAdmin();
    server.on(`DELETE /api/admin/users/${ALICE.id}`, { status: 204 });
    fireEvent.click(screen.getByRole('button', { name: 'Delete alice' }));
    expect(screen.getByText('Delete alice? This cannot be undone.')).toBeTruthy();
    // Focus lands on Cancel, so a stray Enter destroys nothing; Escape backs out to the button.
    expect(document.activeElement?.textContent).toBe('Cancel');
    fireEvent.keyDown(document.activeElement as Element, { key: 'Escape' });
    await waitFor(() => expect(document.activeElement?.getAttribute('aria-label')).toBe('Delete alice'));
    expect(screen.queryByText('Delete alice? This cannot be undone.')).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'Delete alice' }));
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(server.callsTo('DELETE', `/api/admin/users/${ALICE.id}`)).toHaveLength(0);

    server.on('GET /api/admin/users', { body: { users: [USERS[0]] } });
    fireEvent.click(screen.getByRole('button', { name: 'Delete alice' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('alice was deleted.')).toBeTruthy();
    expect(server.callsTo('DELETE', `/api/admin/users/${ALICE.id}`)).toHaveLength(1);
    await waitFor(() => expect(screen.queryByRole('row', { name: /^alice/ })).toBeNull());
  });

  test('revoke codes asks first, then revokes', async () => {
    const server = await openAsAdmin();
    server.on(`DELETE /api/admin/users/${ALICE.id}/backup-codes`, { status: 204 });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke codes of alice' }));
    expect(screen.getByText('Revoke all backup codes of alice? They stop working at once.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Revoke' }));
    expect(await screen.findByText('The backup codes of alice were revoked.')).toBeTruthy();
    expect(server.callsTo('DELETE', `/api/admin/users/${ALICE.id}/backup-codes`)).toHaveLength(1);
  });

  test('setting an authenticator now shows the secret and QR code once', async () => {
    const server = await openAsAdmin();
    const secret = 'KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ';
    server.on(`PATCH /api/admin/users/${ADMIN.id}`, {
      body: {
        user: adminUser(ADMIN),
        totp: { secret, otpauthUri: `otpauth://totp/SpareKey:admin?secret=${secret}&issuer=SpareKey` },
      },
    });
    fireEvent.click(screen.getByRole('button', { name: 'MFA of admin' }));
    expect(document.activeElement?.textContent).toBe('MFA for admin');
    fireEvent.click(screen.getByRole('radio', { name: /Authenticator app, configured now/ }));
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));

    expect(await screen.findByRole('img', { name: 'QR code for your authenticator app' })).toBeTruthy();
    expect(screen.getByText('KRSX G5CT MVRX EZLU KN2X AZLS KNSW G4TF OQ')).toBeTruthy();
    expect(server.callsTo('PATCH', `/api/admin/users/${ADMIN.id}`)[0]?.body).toEqual({
      mfa: { type: 'totp', configureLater: false },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Done' }));
    expect(screen.queryByText(/KRSX G5CT/)).toBeNull();
  });

  test('changing the MFA of a user who has an authenticator and codes asks first', async () => {
    const server = await openAsAdmin();
    server.on(`PATCH /api/admin/users/${ALICE.id}`, { body: { user: adminUser(ALICE) } });
    fireEvent.click(screen.getByRole('button', { name: 'MFA of alice' }));
    fireEvent.click(screen.getByRole('radio', { name: /Authenticator app, configured later by the user/ }));
    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(
      screen.getByText(/Change the MFA of alice\? Their current authenticator and backup codes stop working/),
    ).toBeTruthy();
    expect(server.callsTo('PATCH', `/api/admin/users/${ALICE.id}`)).toHaveLength(0);
    fireEvent.click(
      within(screen.getByRole('group', { name: /Change the MFA of alice/ })).getByRole('button', {
        name: 'Apply',
      }),
    );
    expect(await screen.findByText('MFA updated for alice.')).toBeTruthy();
    expect(server.callsTo('PATCH', `/api/admin/users/${ALICE.id}`)[0]?.body).toEqual({
      mfa: { type: 'totp', configureLater: true },
    });
  });

  test('create user: a taken name is shown at the username field', async () => {
    const server = await openAsAdmin({
      'POST /api/admin/users': errorReply(409, 'username_taken', 'This username is already taken.'),
    });
    fireEvent.click(screen.getByRole('button', { name: 'Add user' }));
    const form = screen.getByRole('form', { name: 'Add user' });
    const username = within(form).getByLabelText('Username');
    fireEvent.input(username, { target: { value: 'Alice' } });
    fireEvent.input(within(form).getByLabelText('Password'), { target: { value: 'long enough pw' } });
    fireEvent.change(within(form).getByLabelText('Role'), { target: { value: 'admin' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create user' }));
    expect(await within(form).findByText('This username is already taken.')).toBeTruthy();
    expect(username.getAttribute('aria-invalid')).toBe('true');
    expect(server.callsTo('POST', '/api/admin/users')[0]?.body).toEqual({
      username: 'Alice',
      password: 'long enough pw',
      role: 'admin',
    });
  });

  test('create user: success closes the form and reloads the table', async () => {
    const server = await openAsAdmin({ 'POST /api/admin/users': { status: 201, body: { user: ALICE } } });
    fireEvent.click(screen.getByRole('button', { name: 'Add user' }));
    const form = screen.getByRole('form', { name: 'Add user' });
    fireEvent.input(within(form).getByLabelText('Username'), { target: { value: 'bob' } });
    fireEvent.input(within(form).getByLabelText('Password'), { target: { value: 'long enough pw' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create user' }));
    expect(await screen.findByText('bob was created.')).toBeTruthy();
    expect(screen.queryByRole('form', { name: 'Add user' })).toBeNull();
    expect(server.callsTo('GET', '/api/admin/users').length).toBeGreaterThanOrEqual(2);
  });
});

describe('Audit log', () => {
  test('filters by user and event type on the server', async () => {
    const server = await openAsAdmin({
      'GET /api/admin/audit': {
        body: {
          events: [
            {
              id: 'e1',
              at: '2026-11-27T10:00:00.000Z',
              type: 'backup_code_used',
              actor: { id: ALICE.id, username: 'alice' },
              subject: { id: ALICE.id, username: 'alice' },
              ip: '203.0.113.7',
              userAgent: 'Firefox',
              details: { number: 3, remaining: 6 },
            },
          ],
        },
      },
    });
    const table = await screen.findByRole('table', { name: 'Audit log' });
    expect(within(table).getByText('Backup code used')).toBeTruthy();
    expect(within(table).getByText('number: 3, remaining: 6')).toBeTruthy();

    fireEvent.change(screen.getByLabelText('User', { selector: 'select' }), { target: { value: ALICE.id } });
    fireEvent.change(screen.getByLabelText('Event', { selector: 'select' }), {
      target: { value: 'backup_code_used' },
    });
    await waitFor(() =>
      expect(server.callsTo('GET', '/api/admin/audit').at(-1)?.path).toBe(
        `/api/admin/audit?limit=200&userId=${ALICE.id}&type=backup_code_used`,
      ),
    );
  });

  test('names the server host as the actor of a break-glass change', async () => {
    await openAsAdmin({
      'GET /api/admin/audit': {
        body: {
          events: [
            {
              id: 'e2',
              at: '2026-11-27T11:00:00.000Z',
              type: 'password_reset',
              actor: null,
              subject: { id: ALICE.id, username: 'alice' },
              ip: null,
              userAgent: null,
              details: { generated: true, via: 'host' },
            },
          ],
        },
      },
    });
    const table = await screen.findByRole('table', { name: 'Audit log' });
    const row = within(table).getByText('Password reset by an administrator').closest('tr') as HTMLElement;
    expect(within(row).getByText('Server host (npm run admin)')).toBeTruthy();
    expect(within(row).getByText('generated: true, via: host')).toBeTruthy();
  });
});
