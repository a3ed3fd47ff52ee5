/** Hostile inputs for the fuzz tests: odd strings, wrong types, deep and huge values. */
import fc from 'fast-check';

/** Strings that break naive code: controls, bidi overrides, BOM, lone surrogates, case-folding traps. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\ud800',
    '\udfff',
    'a\ud83dz',
    '\u202eadmin',
    '\ufeffadmin',
    'ADMİN',
    'ﬀ',
    'straße',
    'admin\u0000',
    'ａｄｍｉｎ',
    'e\u0301',
    '../../policy',
    '%2e%2e%2f',
    '<script>alert(1)</script>',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a template injection probe, on purpose.
    '${7*7}',
    'null',
    '__proto__',
    '0'.repeat(70),
    '𝟘𝟙𝟚𝟛𝟜-𝟝𝟞𝟟𝟠𝟡',
    'ABCDE-FGHJK\n',
  ),
);

/**
 * Nested arrays or objects, a few hundred deep (deeper ones are sent as raw text below: fast-check
 * would overflow its stack printing them).
 */
export const deep: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 50, max: 400 }), fc.boolean())
  .map(([depth, arrays]) => {
    let value: unknown = 'x';
    for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value };
    return value;
  });

/** Any value a JSON field could hold, with a bias toward the troublesome. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  oddString,
  fc.constantFrom(0, -0, -1, 1.5, 2 ** 53 + 1, 1e308, -1e308, true, false, null, [], {}),
  fc.string({ minLength: 1000, maxLength: 3000 }),
  deep,
);

/** An object with some of `keys` (each holding anything) and maybe keys nobody asked for. */
export function shapedLike(keys: string[]): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.fromEntries(keys.map((key) => [key, anyValue]));
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.dictionary(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'toString', ''),
        anyValue,
        {
          maxKeys: 2,
        },
      ),
    )
    .map(([known, extra]) => {
      const value: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(known)) value[k] = v;
      // defineProperty, so "__proto__" becomes an own key as it would from JSON.parse.
      for (const [k, v] of Object.entries(extra))
        Object.defineProperty(value, k, { value: v, enumerable: true });
      return value;
    });
}

/** Body texts that are not (all) JSON: truncated, prefixed, binary-ish, or another format. */
export const rawText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
  fc.jsonValue().map((v) => `\ufeff${JSON.stringify(v)}`),
  fc.constantFrom(
    '',
    'null',
    '[]',
    '"string"',
    '1e999',
    '{"a":1,"a":2}',
    '{"__proto__":{"isAdmin":true}}',
    'username=admin&password=x',
    '<xml/>',
    '{"username":"admin","password":"x"}garbage',
  ),
  fc.integer({ min: 1000, max: 8000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.integer({ min: 1000, max: 8000 }).map((depth) => '['.repeat(depth)),
);

export const contentType: fc.Arbitrary<string | null> = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/JSON',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  null,
);

/**
 * A client address for X-Forwarded-For (the fuzz world trusts the proxy), odd ones included: the
 * server must file failures under any string without trouble. A small pool keeps ip-failures/ small,
 * so reading the data directory before and after each request stays quick.
 */
export const address = fc.constantFrom(
  '192.0.2.1',
  '198.51.100.7',
  '2001:db8::1',
  '::ffff:127.0.0.1',
  '../../users',
  'unknown',
  '<script>',
  '\u00ff\u00fe',
);
