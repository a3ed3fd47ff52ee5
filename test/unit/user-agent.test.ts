import { describe, expect, it } from 'vitest';
import { clientFamily } from '../../extension/src/user-agent';

describe('the client family of a user agent', () => {
  it.each([
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      'Chrome',
      'Linux',
    ],
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36',
      'Chrome',
      'Linux',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0',
      'Firefox',
      'Windows',
    ],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Firefox', 'Linux'],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86',
      'Edge',
      'Windows',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
      'Safari',
      'macOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
      'Safari',
      'iOS',
    ],
    [
      'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1',
      'Chrome',
      'iOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
      'Chrome',
      'Android',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36',
      'Samsung Internet',
      'Android',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0',
      'Opera',
      'Windows',
    ],
    [
      'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      'Chrome',
      'ChromeOS',
    ],
    ['curl/8.5.0', 'curl', null],
    ['python-requests/2.32.3', 'Python', null],
    ['node', 'Node.js', null],
  ])('%s -> %s on %s', (ua, browser, os) => {
    expect(clientFamily(ua)).toEqual({ browser, os });
  });

  it('knows nothing of no string, an empty one, or one it does not recognise', () => {
    expect(clientFamily(null)).toEqual({ browser: null, os: null });
    expect(clientFamily(undefined)).toEqual({ browser: null, os: null });
    expect(clientFamily('')).toEqual({ browser: null, os: null });
    expect(clientFamily('SomeBot/1.0 (+https://bot.example)')).toEqual({ browser: null, os: null });
  });

  it('never passes on any of a hostile string: only names from its own lists come out', () => {
    const hostile = [
      '<img src=x onerror=alert(1)> Chrome/1.0 (Windows)',
      'Firefox/1\u202Eevil\u202C on Linux\n\rInjected: header',
      'Chrome/\u0000\u0007 \uD83D\uDE00 Linux',
      'Mozilla/5.0 (Linux; Android 14) Firefox/99 '.repeat(50),
    ];
    const names = new Set([null, 'Chrome', 'Firefox', 'Windows', 'Linux', 'Android']);
    for (const ua of hostile) {
      const family = clientFamily(ua);
      expect(names.has(family.browser), ua).toBe(true);
      expect(names.has(family.os), ua).toBe(true);
    }
    expect(clientFamily(hostile[0])).toEqual({ browser: 'Chrome', os: 'Windows' });
  });

  it('reads only the start of a huge string, and answers fast', () => {
    const huge = `${'(('.repeat(500_000)}Chrome/1 Linux`;
    const started = performance.now();
    expect(clientFamily(huge)).toEqual({ browser: null, os: null });
    const padded = `Mozilla/5.0 (Windows NT 10.0) Firefox/128.0 ${'x'.repeat(1_000_000)}`;
    expect(clientFamily(padded)).toEqual({ browser: 'Firefox', os: 'Windows' });
    expect(performance.now() - started).toBeLessThan(200);
  });
});
