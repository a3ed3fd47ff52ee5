import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mfaPage } from '../../server/web/views/mfa';

/**
 * The page's <main>, where the forms are (the head and header are free to change), without the
 * fixtures' comments or the template's line breaks.
 */
const markup = (text: string) =>
  (text.match(/<main[\s\S]*<\/main>/)?.[0] ?? '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/\s+/g, ' ')
    .trim();

describe('the /login fixtures', () => {
  it.each([
    ['login-mfa.html', 'backup_code'],
    ['login-mfa-totp.html', 'totp'],
  ] as const)('%s is what the server renders for the %s step today', async (name, method) => {
    const rendered = await mfaPage({ csrf: 'CSRF-TOKEN', method, backupAllowed: true });
    const fixture = readFileSync(resolve(import.meta.dirname, '../fixtures/autofill', name), 'utf8');
    expect(markup(fixture)).toContain('<form');
    expect(markup(fixture)).toBe(markup(String(rendered)));
  });
});
