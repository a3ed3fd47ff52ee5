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
    const rendered = await mfaPage({
      csrf: 'CSRF-TOKEN',
      method,
      username: 'alice',
      userId: '6f1c2c8e-0000-4000-8000-000000000001',
      backupAllowed: true,
    });
    const fixture = readFileSync(resolve(import.meta.dirname, '../fixtures/autofill', name), 'utf8');
    expect(markup(fixture)).toContain('<form');
    expect(markup(fixture)).toBe(markup(String(rendered)));
  });
});

describe('who the MFA step is for', () => {
  it.each(['backup_code', 'totp'] as const)(
    'the %s step names the user, escaped, on the page and its form',
    async (method) => {
      // The API refuses such names, but the page must not trust the store to have done so.
      const page = String(
        await mfaPage({
          csrf: 'CSRF-TOKEN',
          method,
          username: '<b>"bob"</b>&',
          userId: 'b0b',
          backupAllowed: true,
        }),
      );
      expect(page).toContain('<p class="who">Signing in as &lt;b&gt;&quot;bob&quot;&lt;/b&gt;&amp;</p>');
      expect(page).toContain('data-username="&lt;b&gt;&quot;bob&quot;&lt;/b&gt;&amp;"');
      expect(page).not.toContain('<b>');
    },
  );
});
