// @vitest-environment happy-dom
import { render, screen, waitFor } from '@testing-library/preact';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { PrintSheet } from '../../extension/src/print/PrintSheet';
import { fake } from './fake-browser';
import { useFreshExtension } from './setup';

vi.mock('webextension-polyfill', async () => (await import('./fake-browser')).polyfillModule);

useFreshExtension();

let print: ReturnType<typeof vi.fn>;
beforeEach(() => {
  print = vi.fn();
  vi.stubGlobal('print', print);
});

describe('print page', () => {
  test('takes the set from the background once, shows it for print and opens the print dialog', async () => {
    fake.runtime.sendMessage.mockResolvedValueOnce({
      serverUrl: 'https://sparekey.example',
      username: 'alice',
      generatedAt: '2026-11-27T10:15:00.000Z',
      codes: [
        { number: 1, code: '7K3QX-M2D9P' },
        { number: 2, code: 'A1B2C-D3E4F' },
      ],
    });
    render(<PrintSheet />);
    expect(await screen.findByText('For alice on sparekey.example')).toBeTruthy();
    expect(screen.getByRole('list', { name: 'Backup codes' }).textContent).toBe('1.7K3QX-M2D9P2.A1B2C-D3E4F');
    expect(fake.runtime.sendMessage).toHaveBeenCalledWith({ type: 'print:take' });
    await waitFor(() => expect(print).toHaveBeenCalledTimes(1));
  });

  test('opened again (or reloaded), it has nothing to show and says why', async () => {
    fake.runtime.sendMessage.mockResolvedValueOnce(null);
    render(<PrintSheet />);
    expect(await screen.findByText(/These codes are no longer available here/)).toBeTruthy();
    expect(print).not.toHaveBeenCalled();
  });
});
