/**
 * A SpareKey server's address as the extension and its packer read it: checked once here, so the
 * address a person types, the one IT presets and the one packed into a build follow one rule.
 */

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export type ServerUrlProblem = 'invalid' | 'insecure';

/** The canonical form of what a person typed (origin + path, no trailing slash), or why it is refused. */
export function parseServerUrl(input: string): { url: string } | { problem: ServerUrlProblem } {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    return { problem: 'invalid' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: 'invalid' };
  if (url.username || url.password || url.search || url.hash) return { problem: 'invalid' };
  // Passwords, codes and tokens cross this link: plain HTTP only where it never leaves the machine.
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) return { problem: 'insecure' };
  return { url: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

/**
 * The host permission for one server. Without a port it covers every port of the host (and Firefox's
 * patterns cannot carry one), so the content script's matches and the background's sender check add it.
 */
export function hostPattern(serverUrl: string): string {
  const { protocol, hostname } = new URL(serverUrl);
  return `${protocol}//${hostname}/*`;
}
