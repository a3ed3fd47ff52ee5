/**
 * oidc-provider, loaded once, here. Version 9 prints a plain-text line to stderr as it loads on a
 * Node.js older than 22 LTS ("oidc-provider WARNING: Unsupported runtime…"). SpareKey still runs on
 * Node.js 20.19 and later, past its end of life (README says so): there that line would be the one
 * line of the server's output that is not JSON, and a start-up refusal would no longer be one line.
 * Only that line is held back, and only while the library loads; every other warning passes.
 */
import type OidcProvider from 'oidc-provider';

const RUNTIME_WARNING = 'oidc-provider WARNING: Unsupported runtime.';

/** Runs `load` with console.warn passing everything but the library's runtime warning. */
export async function withoutRuntimeWarning<T>(load: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    // Under a terminal the line is wrapped in colour codes: look for the text, not its start.
    if (typeof args[0] === 'string' && args[0].includes(RUNTIME_WARNING)) return;
    warn.apply(console, args);
  };
  try {
    return await load();
  } finally {
    console.warn = warn;
  }
}

const library = await withoutRuntimeWarning(() => import('oidc-provider'));

export const Provider = library.default;
export type Provider = OidcProvider;
export const { errors, interactionPolicy } = library;
export type {
  Account,
  Adapter,
  AdapterPayload,
  Configuration,
  KoaContextWithOIDC,
} from 'oidc-provider';
