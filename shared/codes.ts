/**
 * The backup-code format, shared by the server (which generates and checks codes)
 * and the extension (which shows, copies and fills them).
 *
 * A code is 10 Crockford base32 symbols (50 bits), shown as XXXXX-XXXXX.
 */

/** Crockford's alphabet: no I, L, O or U, so codes survive being read aloud or hand-copied. */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 10;
export const CODE_GROUP = 5;

/** Crockford decoding aliases: what a person may type for a symbol that looks alike. */
const ALIASES: Record<string, string> = { O: '0', I: '1', L: '1' };

/** Draws one code from the platform CSPRNG (WebCrypto exists in Node 20 and in browsers). */
export function generateCode(): string {
  // 32 symbols divide 256 exactly, so `byte & 31` has no modulo bias.
  const bytes = crypto.getRandomValues(new Uint8Array(CODE_LENGTH));
  let code = '';
  for (const byte of bytes) code += CODE_ALPHABET[byte & 31];
  return code;
}

/** XXXXXXXXXX -> XXXXX-XXXXX, the only way a code is ever shown. */
export function formatCode(canonical: string): string {
  return `${canonical.slice(0, CODE_GROUP)}-${canonical.slice(CODE_GROUP)}`;
}

/**
 * Turns what a person typed into the canonical 10 symbols, or null when it cannot be a code.
 * Case, spaces and dashes are ignored; O, I and L read as 0, 1 and 1.
 */
export function normalizeCode(input: string): string | null {
  if (input.length > 64) return null;
  const compact = input.toUpperCase().replace(/[\s-]/g, '');
  let canonical = '';
  for (const ch of compact) {
    const symbol = ALIASES[ch] ?? ch;
    if (!CODE_ALPHABET.includes(symbol)) return null;
    canonical += symbol;
  }
  return canonical.length === CODE_LENGTH ? canonical : null;
}
