/**
 * A short name for the client behind a user-agent string ("Chrome", "Linux"): the code-use notice shows
 * these, never the string itself, which a client chooses freely and can fill with anything. Only names
 * from the lists below come out, so nothing the string holds reaches the page.
 */

export interface ClientFamily {
  browser: string | null;
  os: string | null;
}

/** The server keeps 256 characters; reading more would only give a hostile string more to work with. */
const READ_AT_MOST = 512;

// Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari", Android also says "Linux",
// an iPad also says "Mac OS X".
const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bVivaldi\//, 'Vivaldi'],
  [/\b(?:Firefox|FxiOS)\//, 'Firefox'],
  [/\bChromium\//, 'Chromium'],
  [/\b(?:Chrome|CriOS|HeadlessChrome)\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
  [/^Wget\//, 'Wget'],
  [/^python-requests\//, 'Python'],
  [/^node$|^undici$/, 'Node.js'],
];

const SYSTEMS: [RegExp, string][] = [
  [/\bWindows\b/, 'Windows'],
  [/\bAndroid\b/, 'Android'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\b(?:Macintosh|Mac OS X)\b/, 'macOS'],
  [/\bFreeBSD\b/, 'FreeBSD'],
  [/\bOpenBSD\b/, 'OpenBSD'],
  [/\b(?:Linux|X11)\b/, 'Linux'],
];

const firstMatch = (text: string, table: [RegExp, string][]) =>
  table.find(([pattern]) => pattern.test(text))?.[1] ?? null;

export function clientFamily(userAgent: string | null | undefined): ClientFamily {
  if (!userAgent) return { browser: null, os: null };
  const text = userAgent.slice(0, READ_AT_MOST);
  return { browser: firstMatch(text, BROWSERS), os: firstMatch(text, SYSTEMS) };
}
