import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
type Catalogue = Record<string, { message: string; placeholders?: Record<string, { content: string }> }>;
const load = (lang: string) =>
  JSON.parse(readFileSync(join(ROOT, 'extension', '_locales', lang, 'messages.json'), 'utf8')) as Catalogue;

const en = load('en');
const fr = load('fr');
const tokens = (message: string) =>
  [...message.matchAll(/\$(\w+)\$/g)].map((m) => m[1]?.toLowerCase()).sort();

describe('messages', () => {
  test('French has every English message, with the same placeholders', () => {
    expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
    for (const [key, entry] of Object.entries(en)) {
      const french = fr[key];
      expect(french?.message.trim(), key).not.toBe('');
      expect(tokens(french?.message ?? ''), key).toEqual(tokens(entry.message));
      expect(french?.placeholders, key).toEqual(entry.placeholders);
    }
  });

  test('every placeholder a message uses is declared', () => {
    for (const catalogue of [en, fr]) {
      for (const [key, entry] of Object.entries(catalogue)) {
        for (const name of tokens(entry.message))
          expect(entry.placeholders?.[name as string], key).toBeDefined();
      }
    }
  });

  test('the manifest names only messages that exist', () => {
    const manifest = readFileSync(join(ROOT, 'manifest.json'), 'utf8');
    const used = [...manifest.matchAll(/__MSG_(\w+)__/g)].map((m) => m[1] as string);
    expect(used.length).toBeGreaterThan(0);
    for (const key of used) expect(en[key], key).toBeDefined();
  });
});
