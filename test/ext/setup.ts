/** Shared per-test hygiene for the extension component tests. */
import { cleanup, configure } from '@testing-library/preact';
import { afterEach, beforeEach, vi } from 'vitest';
import { resetFakeBrowser } from './fake-browser';

// Sealing a kept set runs PBKDF2 at 600,000 iterations: on a loaded 2-core machine that alone can pass
// testing-library's 1 s default for findBy/waitFor, which then fails a test whose behaviour is right.
configure({ asyncUtilTimeout: 10_000 });

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
