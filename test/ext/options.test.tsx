// @vitest-environment happy-dom
import { fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { sha256Hex } from '../../extension/src/digest';
import { Options } from '../../extension/src/options/Options';
import type { Application } from '../../shared/api';
import { fake } from './fake-browser';
import { errorReply, fakeApplications, fakeServer } from './fake-server';
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
    'GET /api/admin/applications': { body: { applications: [] } },
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

  test('the footer shows the installed version, so an administrator sees an update arrived', async () => {
    vi.spyOn(fake.runtime, 'getManifest').mockReturnValue({
      manifest_version: 3,
      name: 'SpareKey',
      version: '0.2.7',
    });
    await configuredBrowser();
    render(<Options />);
    await screen.findByRole('heading', { name: 'Sign in' });
    expect(screen.getByRole('contentinfo').textContent).toBe('SpareKey extension version 0.2.7');
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
      adminsMustUseMfa: false,
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

  test('"Administrators must use MFA" is off as saved; ticking it is a change, and Save sends it', async () => {
    const server = await openAsAdmin({
      'PUT /api/admin/policy': { body: { ...POLICY, adminsMustUseMfa: true } },
    });
    const box = screen.getByRole('checkbox', { name: /^Administrators must use MFA/ }) as HTMLInputElement;
    expect(box.checked).toBe(false);
    fireEvent.click(box);
    expect(saveButton().disabled).toBe(false);
    fireEvent.click(saveButton());
    expect(await screen.findByText('Multifactor settings saved.')).toBeTruthy();
    expect(server.callsTo('PUT', '/api/admin/policy')[0]?.body).toEqual({
      ...POLICY,
      adminsMustUseMfa: true,
    });
    expect(box.checked).toBe(true);
  });

  test('warns an admin whose own account has no MFA, and no one else', async () => {
    await openAsAdmin({
      'GET /api/me': { body: { ...me({}, ADMIN), mfa: { enabled: false, enrolled: false, type: 'none' } } },
    });
    expect(await screen.findByText(/^Your own account has no multifactor authentication/)).toBeTruthy();
  });

  test('an admin with an authenticator sees no such warning', async () => {
    await openAsAdmin();
    expect(screen.queryByText(/^Your own account has no multifactor authentication/)).toBeNull();
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
      (within(adminRow).getByRole('button', { name: 'Delete: admin' }) as HTMLButtonElement).disabled,
    ).toBe(true);
  });

  test('delete asks first; Cancel keeps the user, confirming deletes and reloads', async () => {
    const server = await openAsAdmin();
    server.on(`DELETE /api/admin/users/${ALICE.id}`, { status: 204 });
    fireEvent.click(screen.getByRole('button', { name: 'Delete: alice' }));
    expect(screen.getByText('Delete alice? This cannot be undone.')).toBeTruthy();
    // Focus lands on Cancel, so a stray Enter destroys nothing; Escape backs out to the button.
    expect(document.activeElement?.textContent).toBe('Cancel');
    fireEvent.keyDown(document.activeElement as Element, { key: 'Escape' });
    await waitFor(() => expect(document.activeElement?.getAttribute('aria-label')).toBe('Delete: alice'));
    expect(screen.queryByText('Delete alice? This cannot be undone.')).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'Delete: alice' }));
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(server.callsTo('DELETE', `/api/admin/users/${ALICE.id}`)).toHaveLength(0);

    server.on('GET /api/admin/users', { body: { users: [USERS[0]] } });
    fireEvent.click(screen.getByRole('button', { name: 'Delete: alice' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('alice was deleted.')).toBeTruthy();
    expect(server.callsTo('DELETE', `/api/admin/users/${ALICE.id}`)).toHaveLength(1);
    await waitFor(() => expect(screen.queryByRole('row', { name: /^alice/ })).toBeNull());
  });

  test('shows a lock that waits for an admin, and Unlock clears it', async () => {
    const locked = adminUser(ALICE, {
      lockout: { lockedUntil: null, needsAdminUnlock: true, consecutiveFailures: 100 },
    });
    const server = await openAsAdmin({ 'GET /api/admin/users': { body: { users: [USERS[0], locked] } } });
    const row = screen.getByRole('row', { name: /^alice/ });
    expect(within(row).getByText('Locked: only an administrator can unlock it')).toBeTruthy();
    // Nothing to unlock on the admin's own open account.
    const adminRow = screen.getByRole('row', { name: /^admin/ });
    expect(within(adminRow).getByText('Open')).toBeTruthy();
    expect(
      (within(adminRow).getByRole('button', { name: 'Unlock: admin' }) as HTMLButtonElement).disabled,
    ).toBe(true);

    server.on(`POST /api/admin/users/${ALICE.id}/unlock`, { body: { user: adminUser(ALICE) } });
    server.on('GET /api/admin/users', { body: { users: USERS } });
    fireEvent.click(within(row).getByRole('button', { name: 'Unlock: alice' }));
    expect(await screen.findByText('alice was unlocked.')).toBeTruthy();
    expect(server.callsTo('POST', `/api/admin/users/${ALICE.id}/unlock`)).toHaveLength(1);
    await waitFor(() =>
      expect(within(screen.getByRole('row', { name: /^alice/ })).getByText('Open')).toBeTruthy(),
    );
  });

  test('a damaged account shows in a notice with its reason, and can be deleted from there', async () => {
    const bob = {
      id: 'b0b0b0b0-0000-4000-8000-000000000000',
      username: 'bob',
      role: 'user',
      reason: 'checksum mismatch',
    };
    const server = await openAsAdmin({ 'GET /api/admin/users': { body: { users: USERS, damaged: [bob] } } });
    const notice = await screen.findByRole('region', { name: 'Damaged accounts' });
    expect(within(notice).getByText('bob: checksum mismatch')).toBeTruthy();
    expect(within(notice).getByText(/cannot sign in.*store:restore/)).toBeTruthy();
    server.on(`DELETE /api/admin/users/${bob.id}`, { status: 204 });
    server.on('GET /api/admin/users', { body: { users: USERS, damaged: [] } });
    fireEvent.click(within(notice).getByRole('button', { name: 'Delete: bob' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('bob was deleted.')).toBeTruthy();
    expect(server.callsTo('DELETE', `/api/admin/users/${bob.id}`)).toHaveLength(1);
    await waitFor(() => expect(screen.queryByRole('region', { name: 'Damaged accounts' })).toBeNull());
  });

  test('revoke codes asks first, then revokes', async () => {
    const server = await openAsAdmin();
    server.on(`DELETE /api/admin/users/${ALICE.id}/backup-codes`, { status: 204 });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke codes: alice' }));
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
    fireEvent.click(screen.getByRole('button', { name: 'MFA: admin' }));
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
    fireEvent.click(screen.getByRole('button', { name: 'MFA: alice' }));
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
      temporary: true,
    });
  });

  test('create user: the password is temporary unless the admin clears the box, and the form says so', async () => {
    const server = await openAsAdmin({ 'POST /api/admin/users': { status: 201, body: { user: ALICE } } });
    const create = async (username: string, clearBox: boolean) => {
      fireEvent.click(screen.getByRole('button', { name: 'Add user' }));
      const form = screen.getByRole('form', { name: 'Add user' });
      const box = within(form).getByRole('checkbox', {
        name: /^User must change this password at first sign-in/,
      }) as HTMLInputElement;
      expect(box.checked).toBe(true);
      if (clearBox) fireEvent.click(box);
      fireEvent.input(within(form).getByLabelText('Username'), { target: { value: username } });
      fireEvent.input(within(form).getByLabelText('Password'), { target: { value: 'long enough pw' } });
      fireEvent.click(within(form).getByRole('button', { name: 'Create user' }));
      await screen.findByText(`${username} was created.`);
    };
    await create('bob', false);
    await create('carol', true);
    expect(server.callsTo('POST', '/api/admin/users').map((call) => call.body)).toEqual([
      { username: 'bob', password: 'long enough pw', role: 'user', temporary: true },
      { username: 'carol', password: 'long enough pw', role: 'user', temporary: false },
    ]);
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
  test('exports a date range as a download: the chosen format, the end day included', async () => {
    const server = await openAsAdmin({ 'GET /api/admin/audit/export': { body: { not: 'parsed' } } });
    const clicked: string[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (
      this: HTMLAnchorElement,
    ) {
      clicked.push(this.download);
    });
    const form = screen.getByRole('form', { name: 'Export the audit log' });
    fireEvent.input(within(form).getByLabelText('From'), { target: { value: '2026-11-01' } });
    fireEvent.input(within(form).getByLabelText('To (included)'), { target: { value: '2026-11-30' } });
    fireEvent.change(within(form).getByLabelText('Format'), { target: { value: 'jsonl' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Download' }));
    await waitFor(() => expect(clicked).toEqual(['sparekey-audit-2026-11-01-2026-11-30.jsonl']));
    const call = server.callsTo('GET', '/api/admin/audit/export')[0];
    expect(new URLSearchParams(call?.path.split('?')[1])).toEqual(
      new URLSearchParams({
        from: '2026-11-01T00:00:00.000Z',
        to: '2026-12-01T00:00:00.000Z',
        format: 'jsonl',
      }),
    );
    click.mockRestore();
  });

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

describe('Applications', () => {
  const GRAFANA: Application = {
    id: '0b7e4c3a-5d1f-4e2a-9c8b-7a6f5e4d3c2b',
    clientId: 'grafana-client-id',
    name: 'Grafana',
    type: 'confidential',
    redirectUris: ['https://grafana.example/login/generic_oauth'],
    postLogoutRedirectUris: ['https://grafana.example/login'],
    createdAt: '2026-11-20T09:30:00.000Z',
  };
  const SPA: Application = {
    ...GRAFANA,
    id: '0b7e4c3a-5d1f-4e2a-9c8b-7a6f5e4d3c2c',
    clientId: 'spa-client-id',
    name: 'Dashboard SPA',
    type: 'public',
    redirectUris: ['https://spa.example/callback', 'http://localhost:5173/callback'],
    postLogoutRedirectUris: [],
  };

  let writeText: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    writeText = vi.fn(async (_text: string) => undefined);
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
  });

  async function openApplications(initial: Application[] = [GRAFANA, SPA]) {
    const fakeApps = fakeApplications(initial);
    const server = await openAsAdmin(fakeApps.routes);
    await screen.findByRole('heading', { name: 'Applications' });
    return { server, fakeApps };
  }

  const section = () => screen.getByRole('region', { name: 'Applications' });

  async function fillRegisterForm(input: { name: string; redirect: string; logout?: string; type?: string }) {
    fireEvent.click(within(section()).getByRole('button', { name: 'Register application' }));
    const form = screen.getByRole('form', { name: 'Register application' });
    fireEvent.input(within(form).getByLabelText('Name'), { target: { value: input.name } });
    fireEvent.input(within(form).getByLabelText('Redirect URIs'), { target: { value: input.redirect } });
    if (input.logout !== undefined) {
      fireEvent.input(within(form).getByLabelText('Post-logout redirect URIs'), {
        target: { value: input.logout },
      });
    }
    if (input.type) fireEvent.click(within(form).getByRole('radio', { name: new RegExp(`^${input.type}`) }));
    return form;
  }

  test('lists name, type, client id, redirect URIs and creation date; a public one has no secret to rotate', async () => {
    await openApplications();
    const row = await screen.findByRole('row', { name: /^Grafana/ });
    const cells = within(row)
      .getAllByRole('cell')
      .map((cell) => cell.textContent);
    expect(cells.slice(0, 3)).toEqual([
      'Confidential',
      'grafana-client-id',
      'https://grafana.example/login/generic_oauth',
    ]);
    expect(cells[3]).toMatch(/^Nov 20, 2026/);
    expect(within(row).getByRole('button', { name: 'Rotate secret: Grafana' })).toBeTruthy();

    const spa = screen.getByRole('row', { name: /^Dashboard SPA/ });
    expect(within(spa).getByText('Public')).toBeTruthy();
    expect(
      within(spa)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(SPA.redirectUris);
    expect(within(spa).queryByRole('button', { name: /Rotate/ })).toBeNull();
  });

  test('an empty list says so', async () => {
    await openApplications([]);
    expect(await within(section()).findByText('No application is registered yet.')).toBeTruthy();
  });

  test('register a confidential application: its secret is shown once, with a copy button and a warning', async () => {
    const { server, fakeApps } = await openApplications([]);
    const form = await fillRegisterForm({
      name: '  Grafana  ',
      redirect: 'https://grafana.example/login/generic_oauth\n\n  https://grafana.example/alt  \n',
      logout: 'https://grafana.example/login',
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Register' }));

    const heading = await screen.findByRole('heading', { name: 'Client secret of Grafana' });
    await waitFor(() => expect(document.activeElement).toBe(heading));
    expect(server.callsTo('POST', '/api/admin/applications')[0]?.body).toEqual({
      name: 'Grafana',
      type: 'confidential',
      redirectUris: ['https://grafana.example/login/generic_oauth', 'https://grafana.example/alt'],
      postLogoutRedirectUris: ['https://grafana.example/login'],
    });
    const secret = fakeApps.secrets[0] as string;
    const panel = screen.getByRole('region', { name: 'Client secret of Grafana' });
    expect(within(panel).getByText(secret)).toBeTruthy();
    expect(within(panel).getByText('client-1')).toBeTruthy();
    expect(within(panel).getByText(/you will not see it again/)).toBeTruthy();
    expect(screen.getByText('Grafana was registered.')).toBeTruthy();
    expect(screen.queryByRole('form', { name: 'Register application' })).toBeNull();
    expect(await screen.findByRole('row', { name: /^Grafana/ })).toBeTruthy();

    // Copy: the secret alone on the clipboard; the background is asked to clear it, by digest only.
    fireEvent.click(within(panel).getByRole('button', { name: 'Copy' }));
    expect(await within(panel).findByText('Copied. The clipboard is cleared in 30 seconds.')).toBeTruthy();
    expect(writeText).toHaveBeenCalledWith(secret);
    expect(fake.runtime.sendMessage).toHaveBeenCalledWith({
      type: 'clipboard:clear-later',
      digest: await sha256Hex(secret),
    });
    expect(JSON.stringify(fake.runtime.sendMessage.mock.calls)).not.toContain(secret);

    // Done: gone from the page, and nothing brings it back.
    fireEvent.click(within(panel).getByRole('button', { name: 'Done' }));
    expect(screen.queryByText(secret)).toBeNull();
    expect(document.body.textContent).not.toContain(secret);
  });

  test('a copy the browser refuses says to copy the secret by hand', async () => {
    await openApplications([]);
    const form = await fillRegisterForm({ name: 'Wiki', redirect: 'https://wiki.example/cb' });
    fireEvent.click(within(form).getByRole('button', { name: 'Register' }));
    const panel = await screen.findByRole('region', { name: 'Client secret of Wiki' });
    writeText.mockRejectedValueOnce(new DOMException('denied', 'NotAllowedError'));
    fireEvent.click(within(panel).getByRole('button', { name: 'Copy' }));
    expect(
      await within(panel).findByText('The secret could not be copied: select it and copy it by hand.'),
    ).toBeTruthy();
    expect(fake.runtime.sendMessage).not.toHaveBeenCalled();
  });

  test('register a public application: no secret is shown, the notice says it uses PKCE', async () => {
    const { server } = await openApplications([]);
    const form = await fillRegisterForm({
      name: 'Dashboard SPA',
      redirect: 'http://localhost:5173/callback',
      type: 'Public',
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Register' }));
    expect(
      await screen.findByText(
        'Dashboard SPA was registered. It is public: it has no client secret and signs in with PKCE.',
      ),
    ).toBeTruthy();
    expect(server.callsTo('POST', '/api/admin/applications')[0]?.body).toMatchObject({
      type: 'public',
      postLogoutRedirectUris: [],
    });
    expect(screen.queryByRole('heading', { name: /Client secret/ })).toBeNull();
    expect(document.body.textContent).not.toMatch(/secret-\d/);
    expect(await screen.findByRole('row', { name: /^Dashboard SPA/ })).toBeTruthy();
  });

  test('a refused redirect URI is shown at its field, on the line it came from; nothing is registered', async () => {
    const { server, fakeApps } = await openApplications([]);
    server.on(
      'POST /api/admin/applications',
      errorReply(
        400,
        'invalid_request',
        'redirectUris.1: A redirect URI must use https (http only for localhost, 127.0.0.1 or [::1]).',
        { field: 'redirectUris.1' },
      ),
    );
    const form = await fillRegisterForm({
      name: 'Wiki',
      redirect: 'https://wiki.example/cb\n\nhttp://wiki.example/cb',
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Register' }));

    const message = await within(form).findByText(
      'Line 3: A redirect URI must use https (http only for localhost, 127.0.0.1 or [::1]).',
    );
    const uris = within(form).getByLabelText('Redirect URIs');
    expect(uris.getAttribute('aria-invalid')).toBe('true');
    expect(uris.getAttribute('aria-describedby')).toContain(message.id);
    await waitFor(() => expect(document.activeElement).toBe(uris));
    expect(within(form).getByLabelText('Name').getAttribute('aria-invalid')).toBeNull();
    expect(within(form).getByLabelText('Post-logout redirect URIs').getAttribute('aria-invalid')).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.queryByText(/was registered/)).toBeNull();
    expect(fakeApps.applications).toHaveLength(0);

    // The name's own error lands at the name, and the earlier one is gone.
    server.on(
      'POST /api/admin/applications',
      errorReply(400, 'invalid_request', 'name: Name is required.', { field: 'name' }),
    );
    fireEvent.click(within(form).getByRole('button', { name: 'Register' }));
    expect(await within(form).findByText('Name is required.')).toBeTruthy();
    expect(within(form).getByLabelText('Name').getAttribute('aria-invalid')).toBe('true');
    expect(uris.getAttribute('aria-invalid')).toBeNull();
  });

  test('edit sends the new name and URIs and updates the table', async () => {
    const { server } = await openApplications();
    fireEvent.click(await screen.findByRole('button', { name: 'Edit: Grafana' }));
    const form = screen.getByRole('form', { name: 'Edit Grafana' });
    // The type cannot change: a secret comes with it or not.
    expect(within(form).queryByRole('radio')).toBeNull();
    expect((within(form).getByLabelText('Redirect URIs') as HTMLTextAreaElement).value).toBe(
      GRAFANA.redirectUris.join('\n'),
    );
    fireEvent.input(within(form).getByLabelText('Name'), { target: { value: 'Grafana prod' } });
    fireEvent.input(within(form).getByLabelText('Redirect URIs'), {
      target: { value: 'https://grafana.example/login/generic_oauth\nhttps://grafana2.example/cb' },
    });
    fireEvent.click(within(form).getByRole('button', { name: 'Save changes' }));
    expect(await screen.findByText('Grafana prod was saved.')).toBeTruthy();
    expect(server.callsTo('PATCH', `/api/admin/applications/${GRAFANA.id}`)[0]?.body).toEqual({
      name: 'Grafana prod',
      redirectUris: ['https://grafana.example/login/generic_oauth', 'https://grafana2.example/cb'],
      postLogoutRedirectUris: ['https://grafana.example/login'],
    });
    const row = await screen.findByRole('row', { name: /^Grafana prod/ });
    expect(within(row).getByText('https://grafana2.example/cb')).toBeTruthy();
    expect(screen.queryByRole('form', { name: /Edit/ })).toBeNull();
  });

  test('rotate asks first; confirmed, the new secret is shown once', async () => {
    const { server, fakeApps } = await openApplications();
    const rotatePath = `/api/admin/applications/${GRAFANA.id}/secret`;
    fireEvent.click(await screen.findByRole('button', { name: 'Rotate secret: Grafana' }));
    expect(
      screen.getByText(/Rotate the secret of Grafana\? The current one stops working at once/),
    ).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(server.callsTo('POST', rotatePath)).toHaveLength(0);

    fireEvent.click(screen.getByRole('button', { name: 'Rotate secret: Grafana' }));
    fireEvent.click(screen.getByRole('button', { name: 'Rotate' }));
    const panel = await screen.findByRole('region', { name: 'Client secret of Grafana' });
    expect(server.callsTo('POST', rotatePath)).toHaveLength(1);
    expect(within(panel).getByText(fakeApps.secrets[0] as string)).toBeTruthy();
    expect(within(panel).getByText('grafana-client-id')).toBeTruthy();
    expect(within(panel).getByText(/you will not see it again/)).toBeTruthy();
    expect(screen.getByText('The secret of Grafana was rotated; the old one no longer works.')).toBeTruthy();
  });

  test('a rotation the server refuses is said above the table, and no secret is shown', async () => {
    const { server } = await openApplications();
    server.on(
      `POST /api/admin/applications/${GRAFANA.id}/secret`,
      errorReply(404, 'not_found', 'Application not found.'),
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Rotate secret: Grafana' }));
    fireEvent.click(screen.getByRole('button', { name: 'Rotate' }));
    expect((await within(section()).findByRole('alert')).textContent).toBe('Application not found.');
    expect(screen.queryByRole('heading', { name: /Client secret/ })).toBeNull();
  });

  test('delete asks first, naming what stops; confirmed, the application is gone', async () => {
    const { server } = await openApplications();
    const path = `/api/admin/applications/${GRAFANA.id}`;
    fireEvent.click(await screen.findByRole('button', { name: 'Delete: Grafana' }));
    expect(screen.getByText(/Delete Grafana\? .*its tokens stop working at once/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(server.callsTo('DELETE', path)).toHaveLength(0);

    fireEvent.click(screen.getByRole('button', { name: 'Delete: Grafana' }));
    fireEvent.click(
      within(screen.getByRole('group', { name: /Delete Grafana\?/ })).getByRole('button', { name: 'Delete' }),
    );
    expect(await screen.findByText('Grafana was deleted; its tokens no longer work.')).toBeTruthy();
    expect(server.callsTo('DELETE', path)).toHaveLength(1);
    await waitFor(() => expect(screen.queryByRole('row', { name: /^Grafana/ })).toBeNull());
    expect(screen.getByRole('row', { name: /^Dashboard SPA/ })).toBeTruthy();
  });
});

describe('Label in name (WCAG 2.5.3)', () => {
  /** A button's name as assistive technology computes it here: aria-label, else its text. */
  const nameOf = (button: HTMLElement) =>
    (button.getAttribute('aria-label') ?? button.textContent ?? '').trim();
  const visibleText = (button: HTMLElement) => (button.textContent ?? '').trim().replace(/…$/, '');

  test('every button of the console is named from its visible text first, rows included', async () => {
    await openAsAdmin(
      fakeApplications([
        {
          id: '0b7e4c3a-5d1f-4e2a-9c8b-7a6f5e4d3c2b',
          clientId: 'grafana-client-id',
          name: 'Grafana',
          type: 'confidential',
          redirectUris: ['https://grafana.example/login/generic_oauth'],
          postLogoutRedirectUris: [],
          createdAt: '2026-11-20T09:30:00.000Z',
        },
      ]).routes,
    );
    await screen.findByRole('row', { name: /^Grafana/ });
    const buttons = screen.getAllByRole('button');
    expect(buttons.length).toBeGreaterThan(10);
    for (const button of buttons)
      expect(nameOf(button), visibleText(button)).toMatch(
        new RegExp(`^${visibleText(button).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      );
    // The row buttons say which row: "Reset password: alice".
    expect(screen.getByRole('button', { name: 'Reset password: alice' }).textContent).toBe('Reset password');
    expect(screen.getByRole('button', { name: 'Rotate secret: Grafana' }).textContent).toBe('Rotate secret');
  });
});
