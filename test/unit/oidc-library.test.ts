/**
 * Loading oidc-provider (server/oidc/library.ts): on Node.js 20 its one plain-text "Unsupported
 * runtime" line is held back, so the server's output stays JSON lines; nothing else it says is.
 */
import { describe, expect, it } from 'vitest';
import { Provider, withoutRuntimeWarning } from '../../server/oidc/library';

const RUNTIME = 'oidc-provider WARNING: Unsupported runtime. Use Node.js v22.x LTS, or a later LTS release.';
const ADAPTER = 'oidc-provider WARNING: a quick start development-only in-memory adapter is used';

/** Runs `run` with console.warn recording its calls; resolves with what was recorded. */
async function warnings(run: () => Promise<unknown>): Promise<unknown[][]> {
  const seen: unknown[][] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    seen.push(args);
  };
  try {
    await run().catch(() => {});
    return seen;
  } finally {
    console.warn = original;
  }
}

describe('loading oidc-provider', () => {
  it('holds back its runtime warning, plain or coloured, and passes every other warning', async () => {
    let loaded: string | undefined;
    const seen = await warnings(async () => {
      loaded = await withoutRuntimeWarning(async () => {
        console.warn(RUNTIME);
        console.warn(`\x1b[31;1m${RUNTIME}\x1b[0m`);
        console.warn(ADAPTER, 'details');
        return 'the library';
      });
    });
    expect(loaded).toBe('the library');
    expect(seen).toEqual([[ADAPTER, 'details']]);
  });

  it('only while loading: afterwards, and after a failed load, console.warn is whole again', async () => {
    const seen = await warnings(async () => {
      await withoutRuntimeWarning(async () => {
        throw new Error('no such module');
      }).catch(() => {});
      console.warn(RUNTIME);
      await withoutRuntimeWarning(async () => 'loaded');
      console.warn(RUNTIME);
    });
    expect(seen).toEqual([[RUNTIME], [RUNTIME]]);
  });

  it('hands on the library itself', () => {
    expect(typeof Provider).toBe('function');
    expect(Provider.name).toBe('Provider');
  });
});
