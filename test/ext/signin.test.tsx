// @vitest-environment happy-dom
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { describe, expect, test, vi } from 'vitest';
import { Popup } from '../../extension/src/popup/Popup';
import { fake } from './fake-browser';
import { errorReply, fakeServer, SERVER, unreachableServer } from './fake-server';
import { configuredBrowser, me } from './fixtures';
import { useFreshExtension } from './setup';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

useFreshExtension();

const type = (label: string | RegExp, value: string) =>
  fireEvent.input(screen.getByLabelText(label), { target: { value } });

async function submitCredentials(username = 'alice', password = 'correct horse') {
  type('Username', username);
  type('Password', password);
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('first run', () => {
  test('asks for the server, refuses plain http to another machine, then asks for that host only', async () => {
    render(<Popup />);
    const url = await screen.findByLabelText('Server address');
    expect((url as HTMLInputElement).value).toBe('');

    type('Server address', 'http://sparekey.example.com');
    fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    expect(await screen.findByText(/Use an https:\/\/ address/)).toBeTruthy();
    expect(url.getAttribute('aria-invalid')).toBe('true');
    expect(fake.permissions.request).not.toHaveBeenCalled();

    type('Server address', 'not a url');
    fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    expect(await screen.findByText('Enter a web address starting with https://')).toBeTruthy();

    type('Server address', 'https://sparekey.example.com:8443/');
    fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(fake.permissions.request).toHaveBeenCalledWith({ origins: ['https://sparekey.example.com/*'] });
    expect(fake.storage.local.data.get('serverUrl')).toBe('https://sparekey.example.com:8443');
  });

  test('a saved address that fails the checks is treated as never set', async () => {
    // Written by something other than this form: plain http to another machine.
    await fake.storage.local.set({ serverUrl: 'http://sparekey.example.com' });
    fake.permissions.granted.add('http://sparekey.example.com/*');
    render(<Popup />);
    const url = (await screen.findByLabelText('Server address')) as HTMLInputElement;
    expect(url.value).toBe('');
    expect(screen.queryByRole('heading', { name: 'Sign in' })).toBeNull();
  });

  test('pre-fills the address an administrator set through managed storage', async () => {
    await fake.storage.managed.set({ serverUrl: 'https://codes.corp.example' });
    render(<Popup />);
    const url = (await screen.findByLabelText('Server address')) as HTMLInputElement;
    await waitFor(() => expect(url.value).toBe('https://codes.corp.example'));
    expect(screen.getByText('Set by your administrator.')).toBeTruthy();
    // Once edited, it is the person's address, not the preset.
    type('Server address', 'https://other.example');
    expect(screen.queryByText('Set by your administrator.')).toBeNull();
  });

  test('fills in the preset Chromium loads while the popup is already open (right after a force-install)', async () => {
    render(<Popup />);
    const url = (await screen.findByLabelText('Server address')) as HTMLInputElement;
    expect(url.value).toBe('');
    // The form has asked once and found nothing yet.
    await waitFor(() => expect(fake.storage.managed.get).toHaveBeenCalled());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(url.value).toBe('');
    // Chromium fills managed storage from the policy a few seconds after the install, and says so.
    fake.storage.managed.data.set('serverUrl', 'https://codes.corp.example');
    fake.storage.onChanged.emit({ serverUrl: { newValue: 'https://codes.corp.example' } }, 'managed');
    await waitFor(() => expect(url.value).toBe('https://codes.corp.example'));
    expect(screen.getByText('Set by your administrator.')).toBeTruthy();
    // A change to the extension's own storage is not a preset.
    fake.storage.onChanged.emit({ serverUrl: { newValue: 'https://elsewhere.example' } }, 'local');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(url.value).toBe('https://codes.corp.example');
  });

  test('a slow managed storage does not hold up the form, nor overwrite what was typed', async () => {
    let answer: (value: Record<string, unknown>) => void = () => undefined;
    fake.storage.managed.get.mockReturnValueOnce(new Promise((resolve) => (answer = resolve)));
    render(<Popup />);
    const url = (await screen.findByLabelText('Server address')) as HTMLInputElement;
    type('Server address', 'https://mine.example');
    answer({ serverUrl: 'https://codes.corp.example' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(url.value).toBe('https://mine.example');
  });

  test('says so when the permission is refused, and stays on the set-up step', async () => {
    fake.permissions.request.mockResolvedValueOnce(false);
    render(<Popup />);
    await screen.findByLabelText('Server address');
    type('Server address', 'https://sparekey.example');
    fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    expect(await screen.findByText(/SpareKey needs permission to reach this server/)).toBeTruthy();
    expect(screen.queryByRole('heading', { name: 'Sign in' })).toBeNull();
  });
});

describe('sign in', () => {
  test('password, then a wrong authenticator code, then a backup code: signed in, token in session storage only', async () => {
    await configuredBrowser();
    const server = fakeServer({
      'POST /api/auth/login': {
        body: { status: 'mfa_required', mfaToken: 'mfa-1', methods: ['totp', 'backup_code'] },
      },
      'POST /api/auth/mfa': [
        errorReply(401, 'invalid_code', 'Invalid code.'),
        {
          body: {
            token: 'session-1',
            user: { id: 'u1', username: 'alice', role: 'user' },
            backupCodes: { remaining: 6 },
          },
        },
      ],
      'GET /api/me': { body: me({ remaining: 6 }) },
      'GET /api/me/events': { body: { events: [] } },
    });
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await submitCredentials();

    const totp = await screen.findByLabelText('Authenticator code');
    expect(totp.getAttribute('autocomplete')).toBe('one-time-code');
    expect(totp.getAttribute('inputmode')).toBe('numeric');
    type('Authenticator code', '123456');
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'That code is not right. Check it and try again.',
    );
    expect((screen.getByLabelText('Authenticator code') as HTMLInputElement).value).toBe('');

    fireEvent.click(screen.getByRole('button', { name: 'Use a backup code' }));
    type('Backup code', '7k3qx m2d9p');
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByText('You signed in with a backup code. Codes left: 6.')).toBeTruthy();
    expect(await screen.findByText('6 of 10 codes left')).toBeTruthy();

    expect(server.callsTo('POST', '/api/auth/login')[0]?.body).toEqual({
      username: 'alice',
      password: 'correct horse',
    });
    expect(server.callsTo('POST', '/api/auth/mfa')[1]?.body).toEqual({
      mfaToken: 'mfa-1',
      method: 'backup_code',
      code: '7k3qx m2d9p',
    });
    expect(server.callsTo('GET', '/api/me')[0]?.headers.Authorization).toBe('Bearer session-1');
    expect(fake.storage.session.data.get('sessionToken')).toBe('session-1');
    expect(JSON.stringify([...fake.storage.local.data])).not.toContain('session-1');
  });

  test('offers only the methods the server lists', async () => {
    await configuredBrowser();
    fakeServer({
      'POST /api/auth/login': { body: { status: 'mfa_required', mfaToken: 'm', methods: ['totp'] } },
    });
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await submitCredentials();
    await screen.findByLabelText('Authenticator code');
    expect(screen.queryByRole('button', { name: 'Use a backup code' })).toBeNull();
  });

  test('a wrong password gets one generic message and clears the password', async () => {
    await configuredBrowser();
    fakeServer({
      'POST /api/auth/login': errorReply(401, 'invalid_credentials', 'Invalid username or password.'),
    });
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await submitCredentials('alice', 'wrong');
    expect((await screen.findByRole('alert')).textContent).toBe('Wrong username or password.');
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');
  });

  test('a locked MFA step says how long is left, from Retry-After', async () => {
    await configuredBrowser();
    fakeServer({
      'POST /api/auth/login': { body: { status: 'mfa_required', mfaToken: 'm', methods: ['totp'] } },
      'POST /api/auth/mfa': {
        ...errorReply(429, 'too_many_attempts', 'Too many attempts.'),
        headers: { 'Retry-After': '541' },
      },
    });
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await submitCredentials();
    await screen.findByLabelText('Authenticator code');
    type('Authenticator code', '000000');
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Too many wrong codes. Try again in 10 min.');
  });

  test('an expired MFA step asks to start over, and Start over goes back to the password', async () => {
    await configuredBrowser();
    fakeServer({
      'POST /api/auth/login': { body: { status: 'mfa_required', mfaToken: 'm', methods: ['totp'] } },
      'POST /api/auth/mfa': errorReply(401, 'invalid_mfa_token', 'Sign-in expired.'),
    });
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await submitCredentials();
    await screen.findByLabelText('Authenticator code');
    type('Authenticator code', '000000');
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect((await screen.findByRole('alert')).textContent).toBe('This sign-in took too long. Start over.');
    fireEvent.click(screen.getByRole('button', { name: 'Start over' }));
    expect(await screen.findByLabelText('Username')).toBeTruthy();
  });

  test('an unreachable server is named as such', async () => {
    await configuredBrowser();
    unreachableServer();
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await submitCredentials();
    expect((await screen.findByRole('alert')).textContent).toMatch(/^The server cannot be reached/);
  });

  test('enrolment shows the secret and a QR code drawn as SVG, then takes the first code', async () => {
    await configuredBrowser();
    const server = fakeServer({
      'POST /api/auth/login': {
        body: {
          status: 'mfa_enroll',
          mfaToken: 'enrol-1',
          secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
          otpauthUri: 'otpauth://totp/SpareKey:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=SpareKey',
        },
      },
      'POST /api/auth/enroll': {
        body: { token: 'session-2', user: { id: 'u1', username: 'alice', role: 'user' } },
      },
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [] } },
    });
    render(<Popup />);
    await screen.findByRole('heading', { name: 'Sign in' });
    await submitCredentials();
    const qr = await screen.findByRole('img', { name: 'QR code for your authenticator app' });
    expect(qr.tagName.toLowerCase()).toBe('svg');
    expect(qr.querySelectorAll('rect').length).toBeGreaterThan(20);
    expect(screen.getByText('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP')).toBeTruthy();
    type('Code from the app', '492039');
    fireEvent.click(screen.getByRole('button', { name: 'Finish set-up' }));
    expect(await screen.findByText('7 of 10 codes left')).toBeTruthy();
    expect(server.callsTo('POST', '/api/auth/enroll')[0]?.body).toEqual({
      mfaToken: 'enrol-1',
      code: '492039',
    });
    expect(fake.storage.session.data.get('sessionToken')).toBe('session-2');
  });

  test('the request goes to the configured server, never with the token in the URL', async () => {
    await configuredBrowser({ token: 'secret-token' });
    const server = fakeServer({
      'GET /api/me': { body: me() },
      'GET /api/me/events': { body: { events: [] } },
    });
    render(<Popup />);
    await screen.findByText('7 of 10 codes left');
    await waitFor(() => expect(server.calls.length).toBeGreaterThan(0));
    for (const call of server.calls) expect(call.path).not.toContain('secret-token');
    expect(vi.mocked(fetch).mock.calls.every(([url]) => String(url).startsWith(SERVER))).toBe(true);
  });
});
