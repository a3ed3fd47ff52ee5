// @vitest-environment happy-dom
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { sha256Hex } from '../../extension/src/digest';
import { Popup } from '../../extension/src/popup/Popup';
import { fake } from './fake-browser';
import { errorReply, fakeServer } from './fake-server';
import { configuredBrowser, me } from './fixtures';
import { useFreshExtension } from './setup';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

useFreshExtension();

const CODES = ['7K3QX-M2D9P', 'A1B2C-D3E4F', 'GHJKM-NPQRS', 'TVWXY-Z0123'].map((code, i) => ({
  number: i + 1,
  code,
}));
const GENERATED = { codes: CODES, generatedAt: '2026-11-27T10:15:00.000Z' };

let writeText: ReturnType<typeof vi.fn>;

beforeEach(() => {
  writeText = vi.fn(async (_text: string) => undefined);
  Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
});

async function openGenerate(backupCodes = {}) {
  await configuredBrowser({ token: 't' });
  const server = fakeServer({
    'GET /api/me': { body: me(backupCodes) },
    'GET /api/me/events': { body: { events: [] } },
    'POST /api/me/backup-codes': { status: 201, body: GENERATED },
  });
  render(<Popup />);
  fireEvent.click(await screen.findByRole('button', { name: /^Generate/ }));
  return server;
}

async function generate(password = 'correct horse') {
  fireEvent.input(await screen.findByLabelText('Your password, to confirm'), { target: { value: password } });
  fireEvent.click(screen.getByRole('button', { name: 'Generate' }));
}

describe('generate a new set', () => {
  test('warns that the current set stops working and needs the password again', async () => {
    const server = await openGenerate();
    expect(
      screen.getByText(/Your current backup codes stop working as soon as the new set is created/),
    ).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Generate' }) as HTMLButtonElement).disabled).toBe(true);
    await generate('correct horse');
    await screen.findByRole('list', { name: 'Backup codes' });
    expect(server.callsTo('POST', '/api/me/backup-codes')[0]?.body).toEqual({ password: 'correct horse' });
  });

  test('a wrong password is said plainly and nothing is shown', async () => {
    const server = await openGenerate();
    server.on(
      'POST /api/me/backup-codes',
      errorReply(401, 'invalid_credentials', 'Invalid username or password.'),
    );
    await generate('nope');
    expect((await screen.findByRole('alert')).textContent).toBe('Wrong username or password.');
    expect(screen.queryByRole('list', { name: 'Backup codes' })).toBeNull();
    expect((screen.getByLabelText('Your password, to confirm') as HTMLInputElement).value).toBe('');
  });

  test('a refusal shows the server’s reason', async () => {
    const server = await openGenerate();
    server.on(
      'POST /api/me/backup-codes',
      errorReply(
        403,
        'mfa_not_configured',
        'Multifactor authentication must be configured for your account first.',
      ),
    );
    await generate();
    expect((await screen.findByRole('alert')).textContent).toBe(
      'Multifactor authentication must be configured for your account first.',
    );
  });

  test('Cancel goes back to the account without generating', async () => {
    const server = await openGenerate();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(await screen.findByText('7 of 10 codes left')).toBeTruthy();
    expect(server.callsTo('POST', '/api/me/backup-codes')).toHaveLength(0);
  });

  test('the codes are shown once, numbered, in a monospace grid; the view closes only when stored', async () => {
    const server = await openGenerate();
    await generate();
    const grid = await screen.findByRole('list', { name: 'Backup codes' });
    const items = [...grid.querySelectorAll('li')];
    expect(items.map((li) => li.textContent)).toEqual([
      '1.7K3QX-M2D9P',
      '2.A1B2C-D3E4F',
      '3.GHJKM-NPQRS',
      '4.TVWXY-Z0123',
    ]);
    expect(items.map((li) => li.getAttribute('value'))).toEqual(['1', '2', '3', '4']);
    expect(grid.querySelectorAll('code')).toHaveLength(4);

    server.on('GET /api/me', { body: me({ total: 4, remaining: 4, used: [] }) });
    fireEvent.click(screen.getByRole('button', { name: 'I have stored these codes' }));
    expect(await screen.findByText('4 of 4 codes left')).toBeTruthy();
    expect(screen.queryByText('7K3QX-M2D9P')).toBeNull();
  });

  test('Copy puts the codes alone on the clipboard and asks the background to clear them, by digest only', async () => {
    await openGenerate();
    await generate();
    fireEvent.click(await screen.findByRole('button', { name: 'Copy' }));
    expect(await screen.findByText('Copied. The clipboard is cleared in 30 seconds.')).toBeTruthy();
    const text = CODES.map(({ code }) => code).join('\n');
    expect(writeText).toHaveBeenCalledWith(text);
    expect(fake.runtime.sendMessage).toHaveBeenCalledWith({
      type: 'clipboard:clear-later',
      digest: await sha256Hex(text),
    });
    expect(JSON.stringify(fake.runtime.sendMessage.mock.calls)).not.toContain('7K3QX');
  });

  test('Copy that the browser refuses points to Download or Print', async () => {
    await openGenerate();
    await generate();
    writeText.mockRejectedValueOnce(new DOMException('denied', 'NotAllowedError'));
    fireEvent.click(await screen.findByRole('button', { name: 'Copy' }));
    expect(
      await screen.findByText('The codes could not be copied. Use Download or Print instead.'),
    ).toBeTruthy();
    expect(fake.runtime.sendMessage).not.toHaveBeenCalled();
  });

  test('Download saves a .txt named after server, user and date, with the codes and how to use them', async () => {
    await openGenerate();
    await generate();
    const blobs: Blob[] = [];
    vi.spyOn(URL, 'createObjectURL').mockImplementation((blob) => {
      blobs.push(blob as Blob);
      return 'blob:test';
    });
    vi.spyOn(URL, 'revokeObjectURL').mockImplementation(() => undefined);
    const clicked: HTMLAnchorElement[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this);
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Download' }));
    expect(clicked).toHaveLength(1);
    expect(clicked[0]?.download).toMatch(/^sparekey-backup-codes-sparekey\.example-alice-2026-11-2\d\.txt$/);
    const text = await blobs[0]?.text();
    expect(text?.split('\n')).toEqual([
      expect.stringMatching(/^SpareKey backup codes for alice on sparekey\.example, generated 2026-11-2\d$/),
      'Each code works once: when asked for your authenticator code, choose "Use a backup code" and type one of them.',
      '',
      '1. 7K3QX-M2D9P',
      '2. A1B2C-D3E4F',
      '3. GHJKM-NPQRS',
      '4. TVWXY-Z0123',
      '',
    ]);
    expect(await screen.findByText('Downloaded. Move the file somewhere safe.')).toBeTruthy();
  });

  test('Print hands the set to the background, which opens the print page', async () => {
    await openGenerate();
    await generate();
    fireEvent.click(await screen.findByRole('button', { name: 'Print' }));
    await waitFor(() =>
      expect(fake.runtime.sendMessage).toHaveBeenCalledWith({
        type: 'print:open',
        sheet: { serverUrl: 'https://sparekey.example', username: 'alice', ...GENERATED },
      }),
    );
  });
});
