/**
 * The extension renders server data as text: no HTML parsing, no eval, no remote code. Preact escapes
 * text by itself; this guards against the escape hatches, in every source, the content script included
 * (it runs inside the server's page).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../extension/src');
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

const FORBIDDEN: [string, RegExp][] = [
  ['dangerouslySetInnerHTML', /dangerouslySetInnerHTML/],
  ['innerHTML / outerHTML', /\.(inner|outer)HTML\b/],
  ['insertAdjacentHTML', /insertAdjacentHTML/],
  ['document.write', /document\.write/],
  ['eval', /\beval\s*\(/],
  ['new Function', /new\s+Function\s*\(/],
  ['remote script', /<script[^>]+src=["']https?:/],
  ['chrome.* (use the polyfill)', /\bchrome\.\w+/],
];

describe('extension page sources', () => {
  const files = sources(SRC);

  test('there are sources to check, the autofill ones among them', () => {
    expect(files.length).toBeGreaterThan(20);
    for (const folder of ['autofill', 'vault', 'content']) {
      expect(files.some((file) => relative(SRC, file).startsWith(`${folder}/`))).toBe(true);
    }
  });

  test.each(FORBIDDEN)('none uses %s', (_name, pattern) => {
    const offenders = files
      .filter((file) => pattern.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(offenders).toEqual([]);
  });
});
