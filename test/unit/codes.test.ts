import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE_ALPHABET, formatCode, generateCode, normalizeCode } from '../../shared/codes';

describe('backup-code format', () => {
  it('generates 10 Crockford base32 symbols shown as XXXXX-XXXXX', () => {
    const code = generateCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{10}$/);
    expect(formatCode(code)).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
  });

  it('uses every symbol of the alphabet, none outside it, with no visible bias', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 3200; i++) for (const ch of generateCode()) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect([...counts.keys()].sort().join('')).toBe([...CODE_ALPHABET].sort().join(''));
    // 32,000 symbols: each expected 1000 times; a biased generator lands far outside this band.
    for (const n of counts.values()) expect(n).toBeGreaterThan(800);
  });

  it('does not repeat codes (50 bits each)', () => {
    const codes = new Set(Array.from({ length: 5000 }, generateCode));
    expect(codes.size).toBe(5000);
  });

  it('normalises case, spaces, dashes and the O/I/L aliases', () => {
    expect(normalizeCode('abcde-fghjk')).toBe('ABCDEFGHJK');
    expect(normalizeCode(' 0o1il 23456 ')).toBe('0011123456');
    expect(normalizeCode('ABCDE FGHJK')).toBe('ABCDEFGHJK');
    expect(normalizeCode('a-b-c-d-e-f-g-h-j-k')).toBe('ABCDEFGHJK');
  });

  it('rejects what cannot be a code', () => {
    for (const bad of [
      '',
      'ABCDE',
      'ABCDE-FGHJKM',
      'ABCDE-FGHUK',
      'ABCDE_FGHJK',
      '１２３４５６７８９０',
      'x'.repeat(100),
    ]) {
      expect(normalizeCode(bad)).toBeNull();
    }
  });

  it('reads at most 64 typed characters, spaces and dashes included', () => {
    expect(normalizeCode(`${' '.repeat(27)}ABCDE-FGHJK${' '.repeat(26)}`)).toBe('ABCDEFGHJK');
    expect(normalizeCode(`${' '.repeat(27)}ABCDE-FGHJK${' '.repeat(27)}`)).toBeNull();
    expect(normalizeCode(`${'-'.repeat(60)}ABCDEFGHJK`)).toBeNull();
  });

  it('round-trips every formatted code, in any case (property)', () => {
    const symbol = fc.constantFrom(...CODE_ALPHABET);
    fc.assert(
      fc.property(fc.array(symbol, { minLength: 10, maxLength: 10 }), fc.boolean(), (symbols, lower) => {
        const canonical = symbols.join('');
        const shown = formatCode(canonical);
        expect(normalizeCode(lower ? shown.toLowerCase() : shown)).toBe(canonical);
      }),
    );
  });

  it('never throws and only returns canonical codes (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80, unit: 'grapheme' }), (input) => {
        const result = normalizeCode(input);
        if (result !== null) expect(result).toMatch(/^[0-9A-HJKMNP-TV-Z]{10}$/);
      }),
    );
  });
});
