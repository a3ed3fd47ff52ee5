/** Shared per-test hygiene for the extension component tests. */
import { cleanup } from '@testing-library/preact';
import { afterEach, beforeEach, vi } from 'vitest';
import { resetFakeBrowser } from './fake-browser';

export function useFreshExtension(): void {
  beforeEach(() => {
    resetFakeBrowser();
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });
}
